"""A raw ASGI app answering in every message shape: those the ASGI spec allows, and broken ones.

``/ok/<shape>`` answers with a well-formed response written in an unusual but
allowed shape; ``/bad/<shape>`` sends a malformed message; ``/late/<shape>``
sends a malformed message once part of a streamed body is out.  ``/head/...``
records whether the app ran to its end after a HEAD response.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

TEXT = [(b"content-type", b"text/plain")]

# Well-formed responses: (status, headers, body parts) in shapes the ASGI spec allows.
ALLOWED: dict[str, tuple[Any, Any, list[Any]]] = {
    # The spec's own examples (and uvicorn's docs) use lists of lists.
    "list-headers": (200, [[b"content-type", b"text/plain"], [b"x-shape", b"list"]], [b"lists"]),
    "tuple-headers": (200, ((b"content-type", b"text/plain"),), [b"tuples"]),
    "bytes-like-headers": (
        200,
        [(bytearray(b"content-type"), memoryview(b"text/plain")), [b"x-shape", bytearray(b"bytearray")]],
        [b"bytes-like"],
    ),
    "upper-case-names": (200, [(b"Content-Type", b"text/plain"), (b"X-Shape", b"Upper")], [b"upper"]),
    "memoryview-body": (200, TEXT, [memoryview(b"one memoryview")]),
    "bytearray-body": (200, TEXT, [bytearray(b"one bytearray")]),
    "mixed-chunks": (200, TEXT, [memoryview(b"a "), bytearray(b"b "), b"c"]),
    "int-enum-status": (HTTPStatus.CREATED, TEXT, [b"created"]),
}


def start(status: Any = 200, headers: Any = TEXT) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


# Malformed first messages: each must become a logged 500 from pyre (uvicorn logs and closes).
BROKEN: dict[str, dict[str, Any]] = {
    "status-str": start(status="200"),
    "status-600": start(status=600),
    "status-103": start(status=103),
    "status-missing": {"type": "http.response.start", "headers": TEXT},
    "headers-3-tuple": start(headers=[(b"a", b"b", b"c")]),
    "headers-str": start(headers=[("content-type", "text/plain")]),
    "headers-none": start(headers=None),
    "header-int-value": start(headers=[(b"x-count", 5)]),
    "header-line": start(headers=[b"x-a: v"]),
    "unknown-type": {"type": "http.response.bogus", "status": 200},
}
BROKEN_BODIES: dict[str, Any] = {"body-str": "text", "body-int": 5, "body-none": None}

head_log: list[str] = []


def allowed_response(shape: str) -> Iterator[dict[str, Any]]:
    status, headers, parts = ALLOWED[shape]
    yield {"type": "http.response.start", "status": status, "headers": headers}
    for index, part in enumerate(parts):
        yield {"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("this app only speaks HTTP")
    kind, _, shape = scope["path"].strip("/").partition("/")
    if kind == "ok" and shape in ALLOWED:
        for message in allowed_response(shape):
            await send(message)
    elif kind == "bad" and shape in BROKEN:
        await send(BROKEN[shape])
        await send({"type": "http.response.body", "body": b"unreachable"})
    elif kind == "bad" and shape in BROKEN_BODIES:
        await send(start())
        await send({"type": "http.response.body", "body": BROKEN_BODIES[shape]})
    elif kind == "bad" and shape == "after-complete":
        await send(start())
        await send({"type": "http.response.body", "body": b"complete"})
        await send({"type": "http.response.body", "body": b"one too many"})
    elif kind == "late" and shape in BROKEN_BODIES:
        await send(start())
        await send({"type": "http.response.body", "body": b"first part\n", "more_body": True})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": BROKEN_BODIES[shape]})
    elif kind == "refused-head":
        # The server refuses this head (a line break in a value) after the bridge has
        # handed it a streamed response: the endless app must be stopped, and a 500 sent.
        await send(
            start(headers=[(b"content-type", b"text/event-stream"), (b"x-bad", b"a\r\nx-injected: 1")])
        )
        for index in range(1_000_000):
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % index, "more_body": True})
            await asyncio.sleep(0.01)
    elif kind == "error-page":
        # What Starlette's ServerErrorMiddleware does: send the error page, then re-raise.
        page = b"our own error page"
        await send({"type": "http.response.start", "status": 500, "headers": TEXT})
        await send({"type": "http.response.body", "body": page})
        raise RuntimeError("the bug behind the error page")
    elif kind == "head":
        await head_stream(send, shape)
    elif kind == "head-log":
        body = json.dumps(head_log).encode()
        await send(start())
        await send({"type": "http.response.body", "body": body})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": TEXT})
        await send({"type": "http.response.body", "body": b"no such shape"})


async def head_stream(send: Any, entry: str) -> None:
    """A streamed response that waits between parts: under HEAD it must still run to its end."""
    await send({"type": "http.response.start", "status": 200, "headers": TEXT})
    try:
        for index in range(3):
            await asyncio.sleep(0.005)
            await send({"type": "http.response.body", "body": b"part %d\n" % index, "more_body": True})
        await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await asyncio.sleep(0.005)  # work after the response, as a background task would do
    except BaseException as error:
        head_log.append(f"{entry}: {type(error).__name__}")
        raise
    head_log.append(f"{entry}: finished")
