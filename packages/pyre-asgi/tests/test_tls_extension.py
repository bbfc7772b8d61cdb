"""ASGI's ``tls`` extension from the spec's ``pyre.tls`` mapping (section 10.4)."""

from __future__ import annotations

import ssl

from pyre.asgi._tls import asgi_tls


def test_a_tls_1_3_session_with_a_client_certificate() -> None:
    der = bytes(range(256)) * 3  # what a DER certificate is to the bridge: bytes to wrap in PEM
    tls = asgi_tls(
        {
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "alpn_protocol": "http/1.1",
            "server_name": "example.org",
            "peer_certificate": der,
        }
    )
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] == 0x1302  # RFC 8446 appendix B.4
    assert [ssl.PEM_cert_to_DER_cert(pem) for pem in tls["client_cert_chain"]] == [der]  # type: ignore[attr-defined]
    assert tls["server_cert"] is None
    assert tls["client_cert_error"] is None
    assert "client_cert_name" not in tls


def test_a_tls_1_2_session_without_a_client_certificate() -> None:
    tls = asgi_tls(
        {
            "version": "TLSv1.2",
            "cipher": "ECDHE-RSA-AES128-GCM-SHA256",
            "alpn_protocol": None,
            "server_name": None,
            "peer_certificate": None,
        }
    )
    assert tls["tls_version"] == 0x0303
    assert tls["cipher_suite"] == 0xC02F  # RFC 5289
    assert tls["client_cert_chain"] == []


def test_names_it_does_not_know_are_none() -> None:
    tls = asgi_tls({"version": "TLSv9", "cipher": "NO-SUCH-CIPHER", "peer_certificate": None})
    assert tls["tls_version"] is None
    assert tls["cipher_suite"] is None
