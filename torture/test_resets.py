"""Clients that reset the connection (RST, SO_LINGER 0) mid-request and mid-response."""

from __future__ import annotations

import asyncio
import time

import pytest
from torture_support import ALL, ServerProcess, Settings, connect, reset, servers, timed_get

CLIENTS = 200
SHAPES = {
    "mid-head": (b"GET / HTTP/1.1\r\nHost: t\r\nX-Partial: ab", 0),
    "mid-body": (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"b" * 50000, 0),
    "mid-response": (b"GET /stream?size=52428800 HTTP/1.1\r\nHost: t\r\n\r\n", 65536),
}


async def settled_fds(server: ServerProcess, baseline: int, within: float) -> int:
    """The server's descriptors over its baseline once they stop falling (or ``within`` passed)."""
    deadline = time.monotonic() + within
    while (extra := server.fds() - baseline) > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls /proc
        await asyncio.sleep(0.1)
    return extra


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_client_reset(shape: str, kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    server = shared(kind, Settings(keep_alive=2, header_timeout=5, body_timeout=5))
    data, read_first = SHAPES[shape]
    with measure(server, f"client reset {shape}", f"{CLIENTS} clients send RST") as m:
        before = await server.settled_stats()
        baseline = server.fds()
        streams = [await connect(server.port) for _ in range(CLIENTS)]
        for _, writer in streams:
            writer.write(data)
        for reader, _ in streams:
            if read_first:
                await asyncio.wait_for(reader.readexactly(read_first), 5)
        await asyncio.sleep(0.2)
        for _, writer in streams:
            reset(writer)
        extra = await settled_fds(server, baseline, within=5)
        stats = await server.settled_stats()
        running = (stats["streams_started"] - before["streams_started"]) - (
            stats["streams_closed"] - before["streams_closed"]
        )
        bystander, seconds = await timed_get(server.port)
        m.outcome(
            f"descriptors back to baseline{'' if extra <= 0 else f' +{extra}'} within 5 s; "
            f"bystander {bystander}",
            f"app streams still running: {running}; bystander {seconds * 1000:.0f} ms",
        )
        m.require(extra <= 2, f"{extra} descriptors still open 5 s after the resets")
        m.require(running == 0, f"{running} app streams still running")
        m.require(bystander == 200, "the next client was not served")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
