"""A raw ASGI 3 application: no framework, just messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def send_complete(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


abandoned_streams: list[str] = []


async def endless(send: Any) -> None:
    """Server-sent events until the client leaves: a send raises OSError, or the wait is cancelled."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    try:
        for index in range(1_000_000):
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % index, "more_body": True})
            await asyncio.sleep(0.01)
    finally:
        abandoned_streams.append("cleaned up")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("this app only speaks HTTP")  # no lifespan support: served anyway
    path = scope["path"]
    if path == "/":
        await send_complete(send, 200, b"text/plain", b"hello, world")
    elif path == "/echo":
        body = await read_body(receive)
        await send_complete(send, 200, b"application/octet-stream", body[::-1])
    elif path == "/scope":
        described = {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query_string": scope["query_string"].decode(),
            "http_version": scope["http_version"],
            "scheme": scope["scheme"],
            "root_path": scope["root_path"],
            "headers": sorted(name.decode() for name, _ in scope["headers"] if name.startswith(b"x-")),
        }
        await send_complete(send, 200, b"application/json", json.dumps(described, sort_keys=True).encode())
    elif path == "/stream":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for index in range(4):
            await asyncio.sleep(0.001)
            await send({"type": "http.response.body", "body": b"tick %d\n" % index, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/events":
        await endless(send)
    elif path == "/events/abandoned":
        await send_complete(send, 200, b"application/json", json.dumps(abandoned_streams).encode())
    elif path == "/status":
        await send_complete(send, 418, b"text/plain", b"teapot")
    else:
        await send_complete(send, 404, b"text/plain", b"no such page")
