"""Round trips: from_asgi(to_asgi(app)) and to_asgi(from_asgi(app)) behave like app."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_side import ASGIServerSide, http_only, http_scope, receive_body

from pyre.asgi import LifespanFailure, from_asgi, to_asgi
from pyre.spec import FileBody, RawHeaders, Request, Response, ServerInfo, State
from pyre.spec.testing import Driver, DriverResponse

# -- a pyre-spec app, directly and through from_asgi(to_asgi(app)) ------------------------------


class PyreApp:
    def __init__(self, static: pathlib.Path) -> None:
        self.static = static

    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        state["greeting"] = "hello"
        yield

    async def __call__(self, request: Request) -> Response:
        if request.path == "/echo":
            body = await request.body.read()
            return Response(200, [(b"x-length", str(len(body)).encode())], body.upper())
        if request.path == "/stream":
            return Response(200, [(b"content-type", b"text/plain")], self.stream())
        if request.path == "/file":
            return Response(200, [(b"content-type", b"text/plain")], FileBody(path=self.static))
        if request.path == "/trailers":
            return Response(200, body=b"data", trailers=self.trailers)
        if request.path == "/hints":
            await request.send_interim(103, [(b"link", b"</s.css>; rel=preload")])
            return Response(200, body=b"hinted")
        return Response(
            404 if request.path != "/" else 200,
            [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")],
            f"{request.state['greeting']} {request.method} {request.path} {request.query.decode()}".encode(),
        )

    async def stream(self) -> AsyncIterator[bytes]:
        for index in range(3):
            await asyncio.sleep(0)
            yield b"chunk %d\n" % index

    async def trailers(self) -> RawHeaders:
        return [(b"x-checksum", b"abc")]


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/?x=1", {}),
    ("POST", "/missing", {}),
    ("POST", "/echo", {"body": b"some content"}),
    ("GET", "/stream", {}),
    ("GET", "/file", {}),
    ("GET", "/trailers", {}),
    ("GET", "/hints", {}),
]


def comparable(response: DriverResponse) -> tuple[Any, ...]:
    trailers = list(response.trailers) if response.trailers is not None else None
    interim = [(status, list(headers)) for status, headers in response.interim]
    # to_asgi does the server's framing (content-length), which a pyre server adds on the wire anyway.
    headers = [pair for pair in response.headers if pair[0] != "content-length"]
    return response.status, headers, response.body, trailers, interim


@pytest.mark.parametrize(("method", "target", "options"), REQUESTS)
async def test_from_asgi_of_to_asgi_preserves_behaviour(
    tmp_path: pathlib.Path, method: str, target: str, options: dict[str, Any]
) -> None:
    static = tmp_path / "static.txt"
    static.write_bytes(b"static content\n")
    app = PyreApp(static)
    async with Driver(app) as driver:
        direct = await driver.request(method, target, **options)
    async with Driver(from_asgi(to_asgi(app))) as driver:
        bridged = await driver.request(method, target, **options)
    assert comparable(bridged) == comparable(direct)


async def test_from_asgi_of_to_asgi_keeps_failed_startup(tmp_path: pathlib.Path) -> None:
    class Failing(PyreApp):
        @contextlib.asynccontextmanager
        async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
            raise RuntimeError("cannot start")
            yield

    with pytest.raises(LifespanFailure, match="cannot start"):
        async with Driver(from_asgi(to_asgi(Failing(tmp_path)))):
            pass


# -- an ASGI app, directly and through to_asgi(from_asgi(app)) ----------------------------------


@http_only
async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    body = await receive_body(receive)
    if scope["path"] == "/stream":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for index in range(3):
            await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"part %d;" % index, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    content = f"{scope['method']} {scope['path']} {scope['query_string'].decode()} {body.decode()}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(content)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def run_asgi(app: Any, scope: dict[str, Any], body: list[bytes]) -> tuple[Any, ...]:
    server = ASGIServerSide(body)
    await app(scope, server.receive, server.send)
    start = server.start()
    return start["status"], server.headers(), server.body()


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [("/", "GET", [b""]), ("/upload", "POST", [b"ab", b"cd"]), ("/stream", "GET", [b""])],
)
async def test_to_asgi_of_from_asgi_preserves_behaviour(path: str, method: str, body: list[bytes]) -> None:
    headers = [(b"host", b"example.com")]
    if len(body) > 1:
        headers.append((b"transfer-encoding", b"chunked"))
    direct = await run_asgi(asgi_app, http_scope(path, method=method, query=b"q=1", headers=headers), body)
    bridged = await run_asgi(
        to_asgi(from_asgi(asgi_app)), http_scope(path, method=method, query=b"q=1", headers=headers), body
    )
    assert bridged == direct
