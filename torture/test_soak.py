"""Soak: many requests over keep-alive connections; RSS and gc-tracked objects must not grow per request.

Quick mode sends ~20,000 requests, ``--soak`` 1,000,000.  The app's own ``/_stats`` counts the
objects the collector tracks (after a collection); RSS is read from /proc.  Both are taken after a
warm-up, so caches and allocator arenas filled once do not count as growth.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from torture_support import ALL, ServerProcess, Settings, connect, exchange_one, mib, read_reply, servers

QUICK = 20_000
SOAK = 1_000_000
WARM_UP = 5_000
CONNECTIONS = 8
PIPELINE = 10
# One round on one connection: the common request shapes, answered by every endpoint type.  Faults
# (which may close the connection) go on fresh connections, one per ``FAULT_EVERY`` requests.
ROUND = [
    (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", False),
    (b"GET /echo?q=%20x HTTP/1.1\r\nHost: t\r\nAccept: */*\r\nCookie: a=b\r\n\r\n", False),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"p" * 100, False),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", False),
    (b"GET /stream?size=10000 HTTP/1.1\r\nHost: t\r\n\r\n", False),
    (b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", True),
    (b"GET /sleep?s=0 HTTP/1.1\r\nHost: t\r\n\r\n", False),
    (b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", False),
    (b"GET /nowhere HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", False),
]
FAULTS = [
    b"GET /raise HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /garbage/status-600 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
]
FAULT_EVERY = 100
ALLOWED_OBJECTS_PER_REQUEST = 0.01
ALLOWED_RSS_PER_REQUEST = 100  # bytes


async def hammer(server: ServerProcess, total: int) -> tuple[int, int]:
    """``total`` requests, most over ``CONNECTIONS`` connections ``PIPELINE`` at a time; returns how many
    got the response they should (a success, or an error status for a fault) and how many were sent."""
    per_connection = (total - total // FAULT_EVERY) // CONNECTIONS // PIPELINE * PIPELINE

    async def one_connection() -> int:
        reader, writer = await connect(server.port)
        good = 0
        try:
            for start in range(0, per_connection, PIPELINE):
                batch = [ROUND[(start + i) % len(ROUND)] for i in range(PIPELINE)]
                writer.write(b"".join(request for request, _ in batch))
                for _, head_only in batch:
                    reply = await asyncio.wait_for(read_reply(reader, head_only=head_only), 10)
                    good += reply.status == 200
        finally:
            writer.close()
        return good

    async def faults() -> int:
        answered = 0
        for index in range(total // FAULT_EVERY):
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                answered += (
                    await exchange_one(server.port, FAULTS[index % len(FAULTS)], within=10)
                ).status >= 400
        return answered

    connections = [one_connection() for _ in range(CONNECTIONS)]
    return sum(
        await asyncio.gather(faults(), *connections)
    ), per_connection * CONNECTIONS + total // FAULT_EVERY


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_soak(kind: str, launch, measure, soak: bool) -> None:  # type: ignore[no-untyped-def]
    total = SOAK if soak else QUICK
    server = await launch(kind, Settings(keep_alive=30))
    load = f"{total} requests ({len(ROUND)} shapes incl. errors) on {CONNECTIONS} keep-alive connections"
    with measure(server, "soak: memory and live objects per request", load) as m:
        await hammer(server, WARM_UP)
        before = await server.stats()
        rss_before = server.rss()
        answered, total = await hammer(server, total)
        after = await server.stats()
        rss_after = server.rss()
        objects = after["gc_objects"] - before["gc_objects"]
        rss = rss_after - rss_before
        m.outcome(
            f"{answered}/{total} answered; gc-tracked objects {objects:+d}, RSS {'+' if rss >= 0 else '-'}"
            f"{mib(abs(rss))}",
            f"{objects / total:+.4f} objects and {rss / total:+.1f} B RSS per request",
        )
        m.require(answered == total, "not every request was answered")
        m.require(objects / total <= ALLOWED_OBJECTS_PER_REQUEST, "live objects grow with requests")
        m.require(rss / total <= ALLOWED_RSS_PER_REQUEST, "RSS grows with requests")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
