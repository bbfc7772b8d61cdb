"""The TLS targets' certificate: made with trustme when the first TLS server starts.

Every TLS server gets the same certificate and key (an ECDSA P-256 leaf, trustme's
default), so that every server does the same handshake and record work; the answer
checks trust its CA.
"""

from __future__ import annotations

import functools
import pathlib
import ssl
import tempfile
from dataclasses import dataclass

from .targets import HOST


@dataclass(frozen=True)
class Certificate:
    certfile: str
    keyfile: str
    cafile: str


@functools.cache
def certificate() -> Certificate:
    import trustme  # only the TLS targets need it; preflight says when it is missing

    directory = pathlib.Path(tempfile.mkdtemp(prefix="pyre-bench-tls-"))
    ca = trustme.CA()
    leaf = ca.issue_cert(HOST)
    files = Certificate(str(directory / "cert.pem"), str(directory / "key.pem"), str(directory / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(files.certfile)
    leaf.private_key_pem.write_to_path(files.keyfile)
    ca.cert_pem.write_to_path(files.cafile)
    return files


# The certificate and key options of each server (pyre-server took uvicorn's names).
FLAGS = {
    "pyre": ("--ssl-certfile", "--ssl-keyfile"),
    "uvicorn": ("--ssl-certfile", "--ssl-keyfile"),
    "granian": ("--ssl-certificate", "--ssl-keyfile"),
    "hypercorn": ("--certfile", "--keyfile"),
}


def server_flags(server: str) -> list[str]:
    files = certificate()
    certificate_flag, key_flag = FLAGS[server]
    return [certificate_flag, files.certfile, key_flag, files.keyfile]


def client_context(alpn: str = "http/1.1") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certificate().cafile)
    context.set_alpn_protocols([alpn])
    return context
