"""TLS: the server's ``ssl.SSLContext`` and what a connection tells the app about its session.

The context is built once, from the ``ssl_*`` settings (uvicorn's names), before the
server binds: a file that cannot be read or a wrong key password is a ``StartupError``.
What the spec's ``pyre.tls`` extension says about a session (section 10.4) is read
once per connection, when its handshake is done, and shared by its requests.
"""

from __future__ import annotations

import os
import ssl
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from pyre.spec import EXT_TLS

from ._config import SSL_TLS_1_2_ONLY, Config
from ._errors import StartupError

# What ALPN offers for each Config.http, in order of preference.
ALPN_PROTOCOLS: Final = {"auto": ("h2", "http/1.1"), "1": ("http/1.1",), "2": ("h2",)}


class ServerTLS:
    """The context connections are wrapped in, and the server names clients asked for (SNI)."""

    def __init__(self, config: Config) -> None:
        self.context = _build_context(config)
        # Filled by the SNI callback during a handshake, taken by the connection after it.
        self._server_names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        self.context.sni_callback = self._remember_server_name

    def _remember_server_name(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        if server_name is not None and isinstance(ssl_object, ssl.SSLObject):
            self._server_names[ssl_object] = server_name

    def session_extensions(self, ssl_object: ssl.SSLObject) -> Mapping[str, object]:
        """``request.extensions`` for every request on a connection with this session."""
        cipher = ssl_object.cipher()
        session = {
            "version": ssl_object.version(),
            "cipher": cipher[0] if cipher else None,
            "alpn_protocol": ssl_object.selected_alpn_protocol(),
            "server_name": self._server_names.pop(ssl_object, None),
            "peer_certificate": ssl_object.getpeercert(binary_form=True),
        }
        return MappingProxyType({EXT_TLS: MappingProxyType(session)})


def _build_context(config: Config) -> ssl.SSLContext:
    assert config.ssl_certfile is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.ssl_version == SSL_TLS_1_2_ONLY:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    _check_exists(config.ssl_certfile, "certificate")
    if config.ssl_keyfile is not None:
        _check_exists(config.ssl_keyfile, "key")
    # A password always, even "": without one OpenSSL would prompt on the terminal.
    password = config.ssl_keyfile_password or ""
    try:
        context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile, password)
    except ssl.SSLError as error:
        if _is_encrypted(config.ssl_keyfile or config.ssl_certfile):  # OpenSSL says only "PEM lib"
            raise StartupError(
                "cannot decrypt the TLS private key: wrong or missing ssl_keyfile_password"
            ) from None
        raise StartupError(f"cannot load the TLS certificate and key: {_reason(error)}") from None
    except OSError as error:
        raise StartupError(f"cannot read the TLS certificate or key: {error.strerror or error}") from None
    context.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    if config.ssl_ca_certs is not None:
        _check_exists(config.ssl_ca_certs, "CA certificates")
        try:
            context.load_verify_locations(config.ssl_ca_certs)
        except (ssl.SSLError, OSError) as error:
            raise StartupError(f"cannot load the TLS CA certificates: {_reason(error)}") from None
    if config.ssl_ciphers is not None:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise StartupError(f"no cipher matches ssl_ciphers {config.ssl_ciphers!r}") from None
    context.set_alpn_protocols(list(ALPN_PROTOCOLS[config.http]))
    return context


def _check_exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise StartupError(f"TLS {what} file not found: {path}")


def _reason(error: OSError) -> str:
    """OpenSSL's reason in words ("key values mismatch"), on one line."""
    reason = getattr(error, "reason", None)
    text = reason.lower().replace("_", " ") if isinstance(reason, str) else str(error.strerror or error)
    return text.splitlines()[0] if text else type(error).__name__


def _is_encrypted(key_path: str) -> bool:
    """Whether the PEM private key in ``key_path`` is encrypted (PKCS#8 or OpenSSL's old form)."""
    try:
        with open(key_path, "rb") as file:
            text = file.read()
    except OSError:
        return False
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or b"Proc-Type: 4,ENCRYPTED" in text
