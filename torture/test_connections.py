"""10,000 idle keep-alive connections: the server keeps serving; memory per connection is reported."""

from __future__ import annotations

import asyncio
import resource
import time

import pytest
from torture_support import ALL, Settings, connect, read_reply, servers, timed_get

CONNECTIONS = 10_000
BATCH = 250
OPENING = 60.0
"""Seconds allowed to open them all (pyre-server needs a few)."""


async def open_served(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection that has had one response and stays open, idle."""
    try:
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = await asyncio.wait_for(read_reply(reader), 5)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    return (reader, writer) if reply.status == 200 else None


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_ten_thousand_idle_connections(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONNECTIONS + 1000:
        pytest.skip(f"RLIMIT_NOFILE is {soft} (hard {hard}): 10,000 connections need {CONNECTIONS + 1000}")
    server = await launch(kind, Settings(keep_alive=120))
    with measure(
        server, "10,000 idle keep-alive connections", f"{CONNECTIONS} connections, each served once"
    ) as m:
        baseline = server.rss()
        started = time.monotonic()
        streams = []
        try:
            for _ in range(0, CONNECTIONS, BATCH):
                batch = await asyncio.gather(*(open_served(server.port) for _ in range(BATCH)))
                streams += [stream for stream in batch if stream is not None]
                if not any(batch) or time.monotonic() - started > OPENING:
                    break  # the server accepts no more: measure what is open
            opened = time.monotonic() - started
            await asyncio.sleep(0.5)
            growth = server.rss() - baseline
            bystander, seconds = await timed_get(server.port)
            # A sample of the idle connections is still usable: keep-alive really kept them.
            sample = streams[:: max(1, len(streams) // 100)]
            for _, writer in sample:
                writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            replies = await asyncio.gather(
                *(asyncio.wait_for(read_reply(reader), 5) for reader, _ in sample), return_exceptions=True
            )
            reused = sum(not isinstance(reply, BaseException) and reply.status == 200 for reply in replies)
        finally:
            for _, writer in streams:
                writer.transport.abort()
        per = growth / max(1, len(streams))
        m.outcome(
            f"{len(streams)}/{CONNECTIONS} open and served; bystander {bystander}; "
            f"{reused}/{len(sample)} reused",
            f"{per / 1024:.1f} KiB per connection; opened in {opened:.1f} s; "
            f"bystander {seconds * 1000:.0f} ms",
        )
        m.require(len(streams) == CONNECTIONS, f"only {len(streams)} connections were served")
        m.require(bystander == 200, "a new client was not served with 10,000 connections open")
        m.require(reused == len(sample), "idle keep-alive connections were dropped")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
