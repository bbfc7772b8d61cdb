"""The applications the torture suite serves, as a pyre-spec app and as an equivalent ASGI 3 app.

Servers load them by ``MODULE:ATTR`` in their own process: ``torture_apps:native`` on pyre-server,
``torture_apps:asgi`` on pyre-server through pyre-asgi, on uvicorn and on granian.  Both answer the
same paths the same way, so one attack measures every server alike:

- ``/`` and ``/echo``: read the whole body (a truncated body must never be answered 2xx), answer 200
- ``/stream?size=N``: N bytes streamed in 64 KiB chunks (the slow-reader attack)
- ``/drip``: 1 KiB every 50 ms, forever, until the server stops the stream (write after disconnect)
- ``/sleep?s=X``: answer 200 after X seconds (requests in flight during SIGTERM)
- ``/raise``, ``/hang?s=X`` (the app's own deadline expires), ``/stream-raise``, ``/garbage/SHAPE``:
  application faults; ASGI only: ``/error-page`` (sends a 500 page, then raises) and
  ``/work-after-response`` (goes on working after its response, counted in ``/_stats``)
- ``/_stats``: the process's RSS, open descriptors and gc-tracked objects, and stream counters
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from pyre.spec import Request, Response

CHUNK = b"x" * 65536
DRIP = b"d" * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

streams = {"started": 0, "closed": 0}
work_after_response = {"done": 0}


def stats() -> bytes:
    """What the soak and the disconnect attacks watch, measured inside the app's process."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * PAGE_SIZE
    return json.dumps(
        {
            "rss": rss,
            "fds": len(os.listdir("/proc/self/fd")),
            "gc_objects": len(gc.get_objects()),
            "streams_started": streams["started"],
            "streams_closed": streams["closed"],
            "work_after_response": work_after_response["done"],
        }
    ).encode()


def number(query: bytes, name: str, default: float) -> float:
    values = parse_qs(query.decode("latin-1")).get(name)
    return float(values[0]) if values else default


async def stream(size: int) -> AsyncIterator[bytes]:
    streams["started"] += 1
    try:
        while size > 0:
            chunk = CHUNK if size >= len(CHUNK) else CHUNK[:size]
            size -= len(chunk)
            yield chunk
    finally:
        streams["closed"] += 1


async def drip() -> AsyncIterator[bytes]:
    streams["started"] += 1
    try:
        while True:
            yield DRIP
            await asyncio.sleep(0.05)
    finally:
        streams["closed"] += 1


async def fail_first() -> AsyncIterator[bytes]:
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:  # an async generator whose first step raises
        yield chunk
    raise RuntimeError("torture: the stream's first chunk raised")


async def hang(seconds: float) -> None:
    """Waits for nothing under the app's own deadline: TimeoutError after ``seconds``."""
    async with asyncio.timeout(seconds):
        await asyncio.Event().wait()


# Responses a buggy native app could return (issue #16 items 1 and 5): each must become a 500.
GARBAGE: dict[str, Callable[[], Any]] = {
    "dict-headers": lambda: Response(200, {"content-type": "text/plain"}, b"x"),  # type: ignore[arg-type]
    "none-headers": lambda: Response(200, None, b"x"),  # type: ignore[arg-type]
    "unpaired-header": lambda: Response(200, [b"x-a: v"], b"x"),  # type: ignore[list-item]
    "str-status": lambda: Response("200", [], b"x"),  # type: ignore[arg-type]
    "status-600": lambda: Response(600, [], b"x"),
    "int-body": lambda: Response(200, [], 42),  # type: ignore[arg-type]
    "not-a-response": lambda: b"HTTP/1.1 200 OK\r\n\r\n",
}


async def native(request: Request) -> Response:
    path = request.path
    if path == "/_stats":
        return Response(200, [(b"content-type", b"application/json")], stats())
    if path == "/stream":
        return Response(200, [], stream(int(number(request.query, "size", 200 * 2**20))))
    if path == "/drip":
        return Response(200, [], drip())
    if path == "/stream-raise":
        return Response(200, [], fail_first())
    if path == "/sleep":
        await asyncio.sleep(number(request.query, "s", 1.0))
        return Response(200, [], b"slept")
    if path == "/raise":
        raise RuntimeError("torture: the handler raised")
    if path == "/hang":
        await hang(number(request.query, "s", 0.5))
    if path.startswith("/garbage/"):
        return GARBAGE[path.removeprefix("/garbage/")]()  # type: ignore[no-any-return]
    body = await request.body.read()
    return Response(200, [(b"content-type", b"text/plain"), (b"x-path", path.encode())], b"%d" % len(body))


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# What a buggy ASGI app could send (items 1, 15, 17): the first two must become a 500; lists as
# header pairs and a memoryview body are valid ASGI and must be served.
ASGI_GARBAGE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "str-status": ({"status": "200", "headers": []}, {"body": b"x"}),
    "triple-headers": ({"status": 200, "headers": [(b"x-a", b"v", b"w")]}, {"body": b"x"}),
    "status-600": ({"status": 600, "headers": []}, {"body": b"x"}),
    "list-headers": ({"status": 200, "headers": [[b"content-type", b"text/plain"]]}, {"body": b"x"}),
    "memoryview-body": ({"status": 200, "headers": []}, {"body": memoryview(b"x")}),
}


async def asgi(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    query: bytes = scope["query_string"]

    async def answer(status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers or []})
        await send({"type": "http.response.body", "body": body})

    async def send_stream(chunks: AsyncIterator[bytes]) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    if path == "/_stats":
        await answer(200, stats(), [(b"content-type", b"application/json")])
    elif path == "/stream":
        await send_stream(stream(int(number(query, "size", 200 * 2**20))))
    elif path == "/drip":
        await send_stream(drip())
    elif path == "/stream-raise":
        await send_stream(fail_first())
    elif path == "/sleep":
        await asyncio.sleep(number(query, "s", 1.0))
        await answer(200, b"slept")
    elif path == "/raise":
        raise RuntimeError("torture: the handler raised")
    elif path == "/hang":
        await hang(number(query, "s", 0.5))
    elif path == "/error-page":
        # What Starlette's ServerErrorMiddleware does: send its own 500 page, then re-raise.
        await answer(500, b"the app's own error page")
        raise RuntimeError("torture: raised after sending its error page")
    elif path == "/work-after-response":
        await answer(200, b"done")
        await asyncio.sleep(0.05)
        work_after_response["done"] += 1
    elif path.startswith("/garbage/"):
        start, body = ASGI_GARBAGE[path.removeprefix("/garbage/")]
        await send({"type": "http.response.start", **start})
        await send({"type": "http.response.body", **body})
    else:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await answer(200, b"%d" % size, [(b"content-type", b"text/plain"), (b"x-path", path.encode())])
