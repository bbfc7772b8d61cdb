"""FastAPI through pyre-asgi on pyre-server over TLS: https URLs and ASGI's ``tls`` extension."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import websockets
from fastapi import FastAPI, Request, WebSocket

from pyre.asgi import from_asgi
from pyre.server import Config, Server

app = FastAPI()


@app.get("/where")
async def where(request: Request) -> dict[str, Any]:
    return {
        "url": str(request.url),
        "for": str(request.url_for("where")),
        "tls": request.scope["extensions"].get("tls"),
        "tls_id": id(request.scope["extensions"].get("tls")),
    }


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    tls = websocket.scope["extensions"].get("tls")
    await websocket.send_json({"url": str(websocket.url), "tls_version": tls and tls["tls_version"]})
    await websocket.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where: Path = tmp_path_factory.mktemp("tls")
    ca, client_ca = trustme.CA(), trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server_cert.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
    server_cert.private_key_pem.write_to_path(str(where / "key.pem"))
    client_ca.cert_pem.write_to_path(str(where / "client-ca.pem"))
    return {
        "ca": ca,
        "certfile": str(where / "cert.pem"),
        "keyfile": str(where / "key.pem"),
        "client_cafile": str(where / "client-ca.pem"),
        "client": client_ca.issue_cert("client@example.org"),
    }


@asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Server]:
    async with Server(
        from_asgi(app), Config(port=0, access_log=False, timeout_drain=2.0, **options)
    ) as server:
        yield server


def client(certificates: dict[str, Any], *, with_certificate: bool = False) -> httpx.AsyncClient:
    context = ssl.create_default_context()
    certificates["ca"].configure_trust(context)
    if with_certificate:
        certificates["client"].configure_cert(context)
    return httpx.AsyncClient(verify=context)


async def test_fastapi_builds_https_urls_and_sees_the_tls_extension(certificates: dict[str, Any]) -> None:
    options = {"ssl_certfile": certificates["certfile"], "ssl_keyfile": certificates["keyfile"]}
    async with serving(**options) as server, client(certificates) as http:
        port = server.port
        first = (await http.get(f"https://127.0.0.1:{port}/where?x=1")).json()
        second = (await http.get(f"https://127.0.0.1:{port}/where")).json()
    assert first["url"] == f"https://127.0.0.1:{port}/where?x=1"
    assert first["for"] == f"https://127.0.0.1:{port}/where"
    tls = first["tls"]
    assert tls["server_cert"] is None
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] in (0x0303, 0x0304)
    # TLS 1.3's suites are 0x1301-0x1305; TLS 1.2's ECDHE suites are 0xC0xx or 0xCCxx.
    assert isinstance(tls["cipher_suite"], int)
    assert tls["cipher_suite"] > 0
    assert second["tls_id"] == first["tls_id"]  # built once for the connection


async def test_a_client_certificate_is_in_the_chain(certificates: dict[str, Any]) -> None:
    options = {
        "ssl_certfile": certificates["certfile"],
        "ssl_keyfile": certificates["keyfile"],
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": certificates["client_cafile"],
    }
    async with serving(**options) as server, client(certificates, with_certificate=True) as http:
        tls = (await http.get(f"https://127.0.0.1:{server.port}/where")).json()["tls"]
    sent = certificates["client"].cert_chain_pems[0].bytes().decode()
    assert [ssl.PEM_cert_to_DER_cert(pem) for pem in tls["client_cert_chain"]] == [
        ssl.PEM_cert_to_DER_cert(sent)
    ]


async def test_plain_http_has_no_tls_extension() -> None:
    async with serving() as server, httpx.AsyncClient() as http:
        port = server.port
        body = (await http.get(f"http://127.0.0.1:{port}/where")).json()
    assert body["url"] == f"http://127.0.0.1:{port}/where"
    assert body["tls"] is None


async def test_a_websocket_over_tls_is_wss_with_the_tls_extension(certificates: dict[str, Any]) -> None:
    context = ssl.create_default_context()
    certificates["ca"].configure_trust(context)
    options = {"ssl_certfile": certificates["certfile"], "ssl_keyfile": certificates["keyfile"]}
    async with serving(**options) as server:
        url = f"wss://127.0.0.1:{server.port}/ws"
        async with websockets.connect(url, ssl=context) as socket:
            body = json.loads(await socket.recv())
    assert body["url"] == url
    assert body["tls_version"] in (0x0303, 0x0304)
