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
