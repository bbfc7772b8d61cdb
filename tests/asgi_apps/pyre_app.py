"""A pyre-spec application (no framework) and ``asgi``, the same app through ``to_asgi``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import pathlib
from collections.abc import AsyncIterator

from pyre.asgi import to_asgi
from pyre.spec import FileBody, Request, Response, ServerInfo, State

STATIC = pathlib.Path(__file__).parent / "static" / "hello.txt"
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class App:
    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        state["started"] = "yes"
        yield

    async def __call__(self, request: Request) -> Response:
        path = request.path
        if path == "/":
            return Response(200, TEXT, b"hello")
        if path == "/echo":
            body = await request.body.read()
            digest = hashlib.sha256(body).hexdigest().encode()
            return Response(200, [*TEXT, (b"x-sha256", digest)], body)
        if path == "/stream":
            return Response(200, TEXT, numbers())
        if path == "/file":
            return Response(200, TEXT, FileBody(path=STATIC))
        if path == "/state":
            return Response(200, TEXT, request.state["started"].encode())
        if path == "/request":
            described = {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path.decode(),
                "query": request.query.decode(),
                "http_version": request.http_version,
                "scheme": request.scheme,
                "authority": request.authority,
                "client_host": request.client[0] if request.client else None,
                "x_test": request.headers.get_all("x-test"),
            }
            return Response(200, [(b"content-type", b"application/json")], json.dumps(described).encode())
        if path == "/server-info":
            info = request.server_info
            described = {"name": info.name, "extensions": sorted(info.extensions)}
            return Response(200, [(b"content-type", b"application/json")], json.dumps(described).encode())
        if path == "/cookies":
            return Response(200, [*TEXT, (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")], b"cookies")
        return Response(404, TEXT, b"not found")


async def numbers() -> AsyncIterator[bytes]:
    for index in range(5):
        await asyncio.sleep(0.001)
        yield b"line %d\n" % index


app = App()
asgi = to_asgi(app)
