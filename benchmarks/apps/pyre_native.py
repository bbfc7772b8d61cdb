"""The raw app as a native pyre-spec application, for pyre-server."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl

from pyre.spec import Request, Response

from . import payloads

TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]
OCTETS = [(b"content-type", b"application/octet-stream")]
NOT_FOUND = Response(404, TEXT, b"Not Found")


async def app(request: Request) -> Response:
    path = request.path
    if path == "/plaintext":
        return Response(200, TEXT, payloads.HELLO)
    if path == "/json":
        return Response(200, JSON, json.dumps(payloads.MESSAGE).encode())
    if path.startswith("/hello/"):
        return Response(200, TEXT, payloads.hello(path[7:]).encode())
    if path.startswith("/users/"):
        user_id = path[7:]
        if not user_id.isdigit():
            return NOT_FOUND
        return Response(200, JSON, json.dumps(payloads.user(int(user_id))).encode())
    if path == "/echo":
        n = int(dict(parse_qsl(request.query.decode()))["n"])
        document = json.loads(await request.body.read())
        return Response(200, JSON, json.dumps(payloads.echo(n, document)).encode())
    if path == "/large":
        return Response(200, OCTETS, payloads.LARGE)
    if path == "/upload":
        return Response(200, TEXT, str(len(await request.body.read())).encode())
    if path == "/sleep":
        await asyncio.sleep(payloads.SLEEP_SECONDS)
        return Response(200, TEXT, payloads.HELLO)
    return NOT_FOUND
