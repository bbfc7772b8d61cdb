"""Properties over generated content: bodies survive the bridges whatever their chunking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asgi_side import ASGIServerSide, http_only, http_scope, receive_body
from hypothesis import given, settings
from hypothesis import strategies as st

from pyre.asgi import from_asgi, to_asgi
from pyre.spec import Request, Response
from pyre.spec.testing import Driver

chunks = st.lists(st.binary(min_size=0, max_size=3000), max_size=12)
waits = st.lists(st.booleans(), min_size=12, max_size=12)


async def feed(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def echo(request: Request) -> Response:
    return Response(200, body=await request.body.read())


@settings(max_examples=60, deadline=None)
@given(parts=chunks)
async def test_request_body_through_from_asgi_of_to_asgi(parts: list[bytes]) -> None:
    async with Driver(from_asgi(to_asgi(echo))) as driver:
        response = await driver.request("POST", "/", body=feed(parts))
    assert response.body == b"".join(parts)


@settings(max_examples=60, deadline=None)
@given(parts=chunks, pauses=waits)
async def test_streamed_response_through_from_asgi(parts: list[bytes], pauses: list[bool]) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        for part, pause in zip(parts, pauses, strict=False):
            if pause:
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"".join(parts)


@settings(max_examples=60, deadline=None)
@given(parts=chunks)
async def test_request_body_through_to_asgi_of_from_asgi(parts: list[bytes]) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = await receive_body(receive)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": body})

    server = ASGIServerSide(parts or [b""])
    headers = [(b"host", b"example.com"), (b"transfer-encoding", b"chunked")]
    await to_asgi(from_asgi(app))(http_scope(method="POST", headers=headers), server.receive, server.send)
    assert server.body() == b"".join(parts)
