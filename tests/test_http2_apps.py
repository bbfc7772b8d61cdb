"""The same apps over HTTP/1.1 and HTTP/2 on pyre-server, unchanged: a pyre-framework app (the
demo), and a Starlette and a FastAPI app through pyre-asgi.  Each request goes over both
protocols; status, body and every header but those HTTP/2 has no use for must be the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgi_apps import fastapi_app, starlette_app
from asgi_apps.http2 import (
    Certificates,
    make_certificates,
    on_pyre_server,
)

import pyre.spec
from examples import demo
from pyre.asgi import from_asgi

WAIT = 20.0
# Framing and connection management are per protocol (RFC 9113 section 8.2.2); the date ticks;
# the demo's request ID is new for every request.
PER_EXCHANGE = {"date", "transfer-encoding", "connection", "keep-alive", "x-request-id"}

Request = tuple[str, str, dict[str, Any]]
APPS: dict[str, tuple[Callable[[], pyre.spec.Application], list[Request]]] = {
    "pyre-framework": (
        demo.create_app,
        [
            ("GET", "/", {}),
            ("GET", "/users/1", {}),
            ("GET", "/users/999", {}),
            ("GET", "/users/not-an-int", {}),
            ("POST", "/users", {"json": {"name": "Ada", "email": "ada@example.org"}}),
            ("POST", "/users", {"json": {"name": 3}}),
            ("GET", "/count/20", {}),
            ("GET", "/source/demo", {}),
            ("GET", "/source/demo", {"headers": {"range": "bytes=0-99"}}),
            ("HEAD", "/source/demo", {}),
            ("GET", "/openapi.json", {}),
        ],
    ),
    "starlette": (
        lambda: from_asgi(starlette_app.app),
        [
            ("GET", "/", {}),
            ("GET", "/users/7?q=1", {}),
            ("GET", "/stream", {}),
            ("GET", "/file", {}),
            ("GET", "/static/hello.txt", {}),
            ("POST", "/echo", {"content": b"a=1&b=2", "headers": {"content-type": "text/plain"}}),
            ("GET", "/memoryview", {}),
            ("GET", "/where", {}),
            ("GET", "/crash", {}),
            ("GET", "/missing", {}),
        ],
    ),
    "fastapi": (
        lambda: from_asgi(fastapi_app.app),
        [
            ("GET", "/", {}),
            (
                "POST",
                "/items?limit=2",
                {"json": {"name": "pen", "price": 2.0}, "headers": {"x-region": "eu"}},
            ),
            ("POST", "/items", {"json": {"name": "", "price": -1}}),
            ("GET", "/items/3?offset=4", {}),
            ("GET", "/items/0", {}),
            ("GET", "/crash", {}),
        ],
    ),
}


def significant(reply: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((name, value) for name, value in reply.headers.multi_items() if name not in PER_EXCHANGE)
    return reply.status_code, reply.content, headers


@pytest.mark.parametrize("name", list(APPS))
async def test_an_app_answers_alike_over_http1_and_http2(name: str) -> None:
    make, requests = APPS[name]
    async with (
        on_pyre_server(make()) as served,
        httpx.AsyncClient(http1=True, http2=False, timeout=WAIT) as http1,
        httpx.AsyncClient(http1=False, http2=True, timeout=WAIT) as http2,
    ):
        for method, path, options in requests:
            one = await http1.request(method, served.url + path, **options)
            two = await http2.request(method, served.url + path, **options)
            assert (one.http_version, two.http_version) == ("HTTP/1.1", "HTTP/2")
            assert one.status_code < 500 or path == "/crash", (path, one.text)
            assert significant(two) == significant(one), (method, path)


async def scope_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what its ASGI scope says about the protocol."""
    if scope["type"] == "lifespan":
        return
    described = {key: scope[key] for key in ("http_version", "scheme", "type")}
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": json.dumps(described).encode()})


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("h2-apps-tls"))


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls-alpn"])
async def test_an_asgi_app_sees_http_version_2(certificates: Certificates, tls: bool) -> None:
    verify = certificates.client_context() if tls else True
    async with (
        on_pyre_server(from_asgi(scope_app), certificates if tls else None) as served,
        httpx.AsyncClient(http1=False, http2=True, verify=verify, timeout=WAIT) as http2,
        httpx.AsyncClient(http1=True, http2=False, verify=verify, timeout=WAIT) as http1,
    ):
        scheme = "https" if tls else "http"
        assert (await http2.get(served.url)).json() == {"http_version": "2", "scheme": scheme, "type": "http"}
        assert (await http1.get(served.url)).json() == {
            "http_version": "1.1",
            "scheme": scheme,
            "type": "http",
        }
