"""Shared pieces: raw ASGI apps and the server side of an ASGI call, written against the ASGI spec."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

Message = dict[str, Any]


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = ((b"host", b"example.com"),),
    extensions: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [list(pair) for pair in headers],
        "client": ["127.0.0.1", 40000],
        "server": ["127.0.0.1", 8000],
        "extensions": extensions if extensions is not None else {},
    }
    if state is not None:
        scope["state"] = state
    return scope


class ASGIServerSide:
    """What an ASGI server does around one HTTP call: feed ``receive``, record ``send``.

    ``body`` is delivered as ``http.request`` messages; afterwards ``receive``
    returns ``http.disconnect`` once the response is complete or
    ``disconnect()`` was called.  After a disconnect ``send`` raises an
    ``OSError`` subclass, as ASGI HTTP spec 2.4 asks.
    """

    class Gone(OSError):
        pass

    def __init__(self, body: Iterable[bytes] = (b"",), *, raise_when_gone: bool = True) -> None:
        self.raise_when_gone = raise_when_gone
        """False acts like uvicorn's httptools protocol, which drops send() after a disconnect."""
        chunks = list(body)
        self.incoming: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        self.sent: list[Message] = []
        self.gone = asyncio.Event()
        self.complete = asyncio.Event()

    def disconnect(self) -> None:
        self.gone.set()

    async def receive(self) -> Message:
        if self.incoming:
            await asyncio.sleep(0)
            return self.incoming.pop(0)
        waiters = [asyncio.ensure_future(self.gone.wait()), asyncio.ensure_future(self.complete.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.gone.is_set():
            if not self.raise_when_gone:
                return
            raise self.Gone("client gone")
        self.sent.append(message)
        kind = message["type"]
        if kind == "http.response.pathsend" or (
            kind == "http.response.body"
            and not message.get("more_body", False)
            and not self.start().get("trailers", False)
        ):
            self.complete.set()
        if kind == "http.response.trailers" and not message.get("more_trailers", False):
            self.complete.set()

    def start(self) -> Message:
        return next(m for m in self.sent if m["type"] == "http.response.start")

    def headers(self) -> dict[bytes, bytes]:
        return {bytes(name): bytes(value) for name, value in self.start()["headers"]}

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def receive_body(receive: Any) -> bytes:
    """The whole request body, read the way an ASGI app does: until ``more_body`` is false."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def http_only(app: Any) -> Any:
    """A raw ASGI app that, like many, refuses every scope but HTTP (so it has no lifespan)."""

    async def refusing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported scope {scope['type']!r}")
        await app(scope, receive, send)

    return refusing
