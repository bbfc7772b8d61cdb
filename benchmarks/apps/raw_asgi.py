"""A minimal raw ASGI 3 app: what uvicorn, hypercorn and granian are measured with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from . import payloads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]
OCTETS = [(b"content-type", b"application/octet-stream")]
NOT_FOUND = (404, TEXT, b"Not Found")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    status, headers, body = await respond(scope, receive)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond(scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    path: str = scope["path"]
    if path == "/plaintext":
        return 200, TEXT, payloads.HELLO
    if path == "/json":
        return 200, JSON, json.dumps(payloads.MESSAGE).encode()
    if path.startswith("/hello/"):
        return 200, TEXT, payloads.hello(path[7:]).encode()
    if path.startswith("/users/"):
        user_id = path[7:]
        if not user_id.isdigit():
            return NOT_FOUND
        return 200, JSON, json.dumps(payloads.user(int(user_id))).encode()
    if path == "/echo":
        n = int(dict(parse_qsl(scope["query_string"].decode()))["n"])
        document = json.loads(await read_body(receive))
        return 200, JSON, json.dumps(payloads.echo(n, document)).encode()
    if path == "/large":
        return 200, OCTETS, payloads.LARGE
    if path == "/upload":
        return 200, TEXT, str(len(await read_body(receive))).encode()
    if path == "/sleep":
        await asyncio.sleep(payloads.SLEEP_SECONDS)
        return 200, TEXT, payloads.HELLO
    return NOT_FOUND


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
