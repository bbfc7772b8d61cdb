"""Workers: limit_max_requests on a Server, and ``pyre serve --workers`` with real processes."""

from __future__ import annotations

import asyncio

import pytest
from server_support import connect, hello, serve

from pyre.server import Config, Server

# limit_max_requests on one Server (what the supervisor and the gunicorn worker build on)


async def test_limit_reached_is_set_after_the_limit_of_requests_and_the_server_goes_on() -> None:
    async with serve(limit_max_requests=3) as server, connect(server) as client:
        assert server.request_limit == 3
        for _ in range(2):
            await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert (await client.reply()).status == 200
        await asyncio.sleep(0.6)  # two ticks of the clock
        assert not server.limit_reached.is_set()
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200
        await asyncio.wait_for(server.limit_reached.wait(), 2)
        # Recycling is up to whoever runs the server: until then it serves.
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200


async def test_no_limit_by_default() -> None:
    async with serve() as server, connect(server) as client:
        assert server.request_limit is None
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200
        await asyncio.sleep(0.3)
        assert not server.limit_reached.is_set()


def test_jitter_adds_up_to_its_value() -> None:
    config = Config(limit_max_requests=10, limit_max_requests_jitter=3)
    limits = {Server(hello, config).request_limit for _ in range(100)}
    assert limits == {10, 11, 12, 13}


def test_config_refuses_nonsense_limits() -> None:
    for options in ({"limit_max_requests": 0}, {"limit_max_requests_jitter": -1}):
        with pytest.raises(ValueError):
            Config(**options)  # type: ignore[arg-type]


# A graceful drain loses no request: what a rolling restart or a recycled worker relies on


async def test_a_connection_accepted_before_the_drain_gets_its_first_request_answered() -> None:
    async with serve(timeout_keep_alive=60) as server, connect(server) as client:
        await asyncio.sleep(0.05)  # accepted; the request is still on its way
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.05)
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = await client.reply()
        assert (reply.status, reply.body) == (200, b"Hello, world!")
        assert reply.header(b"connection") == b"close"
        assert await client.closed()
        await asyncio.wait_for(stopping, 5)


async def test_a_connection_that_sends_nothing_does_not_hold_up_the_drain() -> None:
    async with serve(timeout_keep_alive=60) as server, connect(server) as client:
        await asyncio.sleep(0.05)
        await asyncio.wait_for(server.stop(), 5)  # not the keep-alive timeout
        assert await client.closed()
