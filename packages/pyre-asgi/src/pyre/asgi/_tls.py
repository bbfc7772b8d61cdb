"""ASGI's TLS extension (``scope["extensions"]["tls"]``) from the spec's ``pyre.tls`` data.

pyre-spec describes a session by names (``"TLSv1.3"``, OpenSSL's cipher name, the peer
certificate in DER); ASGI wants numbers and PEM.  The spec carries neither the server's
certificate nor the client certificate's subject, so ``server_cert`` is ``None`` (as ASGI
allows when the server cannot tell) and ``client_cert_name`` is left out.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from typing import Final

# The TLS protocol versions a pyre server negotiates, as ASGI numbers them (RFC 8446 section 4.1.2).
_TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def asgi_tls(session: Mapping[str, object]) -> dict[str, object]:
    """The value of ASGI's ``tls`` extension for a connection described by ``session``."""
    version = session.get("version")
    cipher = session.get("cipher")
    peer = session.get("peer_certificate")
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(peer)] if isinstance(peer, bytes) else [],
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version) if isinstance(version, str) else None,
        "cipher_suite": _cipher_suites().get(cipher) if isinstance(cipher, str) else None,
    }


@functools.cache
def _cipher_suites() -> dict[str, int]:
    """OpenSSL's cipher names and their IANA numbers, every suite this OpenSSL knows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:@SECLEVEL=0")
    # OpenSSL's id is 0x0300 followed by the two bytes of the IANA number.
    return {cipher["name"]: cipher["id"] & 0xFFFF for cipher in context.get_ciphers()}
