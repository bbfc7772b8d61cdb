"""``limit_concurrency``: beyond N requests in progress, 503 with ``retry-after`` and close.

What is counted is requests whose app (or response stream, or upgrade) is still
running, not connections: idle keep-alive connections cost the app nothing.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from server_support import TIMEOUT, Client, connect, exchange, serve, status_of

from pyre.server import Config
from pyre.server._cli import parse
from pyre.spec import Request, Response

GET = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"


class Gate:
    """An app whose /slow requests wait until the gate opens; counts what it was given."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered: asyncio.Queue[None] = asyncio.Queue()
        self.seen: list[str] = []

    async def __call__(self, request: Request) -> Response:
        self.seen.append(request.path)
        if request.path == "/slow":
            self.entered.put_nowait(None)
            await self.open.wait()
        body = await request.body.read()
        return Response(200, body=b"done " + body)

    async def wait_entered(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            for _ in range(count):
                await self.entered.get()


async def test_a_request_beyond_the_limit_is_answered_503_and_closed() -> None:
    app = Gate()
    async with serve(app, limit_concurrency=2) as server:
        slow = [await Client.connect(server.port) for _ in range(2)]
        for client in slow:
            await client.send(GET % b"slow")
        await app.wait_entered(2)

        async with connect(server) as client:
            await client.send(GET % b"fast")
            reply = await client.reply()
            assert reply.status == 503
            assert reply.header(b"retry-after") == b"1"
            assert reply.header(b"connection") == b"close"
            assert await client.closed()
        assert app.seen == ["/slow", "/slow"]  # the refused request never reached the app

        app.open.set()
        for client in slow:
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, b"done ")
        # The two finished: the count went down, a new request runs.
        async with connect(server) as client:
            await client.send(GET % b"fast")
            assert (await client.reply()).status == 200
        for client in slow:
            await client.close()


async def test_content_of_a_refused_request_is_not_taken_for_a_request() -> None:
    app = Gate()
    async with serve(app, limit_concurrency=1) as server, connect(server) as slow:
        await slow.send(GET % b"slow")
        await app.wait_entered(1)
        # The content is a request line: were it parsed as one after the 503, it would be smuggled.
        smuggled = GET % b"smuggled"
        head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
        raw = await exchange(server, head + smuggled)
        assert status_of(raw) == 503
        assert raw.count(b"HTTP/1.1") == 1
        assert b"connection: close" in raw
        app.open.set()
        assert (await slow.reply()).status == 200
        assert app.seen == ["/slow"]


async def test_pipelined_requests_behind_a_refused_one_are_not_answered() -> None:
    app = Gate()
    async with serve(app, limit_concurrency=1) as server, connect(server) as slow:
        await slow.send(GET % b"slow")
        await app.wait_entered(1)
        raw = await exchange(server, GET % b"one" + GET % b"two")
        assert status_of(raw) == 503
        assert raw.count(b"HTTP/1.1") == 1  # the server closed after saying so
        app.open.set()
        await slow.reply()
        assert app.seen == ["/slow"]


async def test_idle_keep_alive_connections_do_not_count() -> None:
    app = Gate()
    async with serve(app, limit_concurrency=1) as server:
        clients = [await Client.connect(server.port) for _ in range(3)]
        for _ in range(2):
            for client in clients:  # three open connections, one request at a time
                await client.send(GET % b"fast")
                reply = await client.reply()
                assert reply.status == 200
                assert reply.header(b"connection") is None
        for client in clients:
            await client.close()


async def test_refusals_are_logged_as_one_warning_at_a_time(caplog: pytest.LogCaptureFixture) -> None:
    app = Gate()
    with caplog.at_level(logging.WARNING, logger="pyre.server"):
        async with serve(app, limit_concurrency=1) as server, connect(server) as slow:
            await slow.send(GET % b"slow")
            await app.wait_entered(1)
            for _ in range(5):
                assert status_of(await exchange(server, GET % b"fast")) == 503
            app.open.set()
            await slow.reply()
    warnings = [r for r in caplog.records if "limit_concurrency" in r.getMessage()]
    assert len(warnings) == 1
    assert "1 requests in progress" in warnings[0].getMessage()


def test_limit_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit_concurrency"):
        Config(limit_concurrency=0)


def test_limit_concurrency_flag_and_variable() -> None:
    assert parse(["app:app", "--limit-concurrency", "7"], {})[1].limit_concurrency == 7
    assert parse(["app:app"], {"PYRE_LIMIT_CONCURRENCY": "3"})[1].limit_concurrency == 3
    assert parse(["app:app"], {})[1].limit_concurrency is None
