from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import pyre.spec
from pyre.framework.responses import EventSourceResponse, ServerSentEvent
from pyre.spec.testing import Driver


@pytest.mark.parametrize(
    ("event", "encoded"),
    [
        (ServerSentEvent(data="hello"), b"data: hello\n\n"),
        (ServerSentEvent(data="a\nb\r\nc\rd"), b"data: a\ndata: b\ndata: c\ndata: d\n\n"),
        (ServerSentEvent(data=""), b"data: \n\n"),
        (ServerSentEvent(data={"n": 1}), b'data: {"n":1}\n\n'),
        (
            ServerSentEvent(data="x", event="update", id="42", retry=1500),
            b"event: update\nid: 42\nretry: 1500\ndata: x\n\n",
        ),
        (ServerSentEvent(comment="keep\nalive"), b": keep\n: alive\n\n"),
        (ServerSentEvent(data="line\u2028sep"), "data: line\u2028sep\n\n".encode()),
    ],
)
def test_event_framing(event: ServerSentEvent, encoded: bytes) -> None:
    assert event.encode() == encoded


@pytest.mark.parametrize(
    "event",
    [ServerSentEvent(event="a\nb"), ServerSentEvent(id="1\r2"), ServerSentEvent(id="nul\x00")],
)
def test_fields_that_would_break_framing_are_refused(event: ServerSentEvent) -> None:
    with pytest.raises(ValueError):
        event.encode()


async def _events() -> AsyncIterator[ServerSentEvent | str]:
    yield "plain"
    yield ServerSentEvent(data="second", event="tick", id="2")


async def test_event_stream_response() -> None:
    async def app(request: pyre.spec.Request) -> pyre.spec.Response:
        return EventSourceResponse(_events())

    async with Driver(app) as driver:
        response = await driver.request("GET", "/events")
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.body == b"data: plain\n\nevent: tick\nid: 2\ndata: second\n\n"


async def test_wrong_item_type_is_a_type_error() -> None:
    async def bad() -> AsyncIterator[object]:
        yield 5

    body = EventSourceResponse(bad()).body  # type: ignore[arg-type]
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    with pytest.raises(TypeError):
        async for _ in body:
            pass


async def test_ping_is_sent_while_the_producer_is_quiet() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first"
        await release.wait()
        yield "after"

    body = EventSourceResponse(slow(), ping=0.01).body
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    chunks = aiter(body)
    assert await anext(chunks) == b"data: first\n\n"
    assert await anext(chunks) == b": ping\n\n"
    assert await anext(chunks) == b": ping\n\n"
    release.set()
    rest = [chunk async for chunk in chunks]
    assert rest[-1] == b"data: after\n\n"
    assert set(rest[:-1]) <= {b": ping\n\n"}


async def test_closing_the_stream_closes_the_producer_and_its_pending_wait() -> None:
    finished = []

    async def forever() -> AsyncIterator[str]:
        try:
            yield "one"
            await asyncio.Event().wait()
            yield "never"
        finally:
            finished.append(True)

    body = EventSourceResponse(forever(), ping=0.01).body
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    chunks = aiter(body)
    assert await anext(chunks) == b"data: one\n\n"
    assert await anext(chunks) == b": ping\n\n"
    await chunks.aclose()  # type: ignore[attr-defined]
    assert finished == [True]
