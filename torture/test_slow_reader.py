"""Slow readers: clients ask for a large streamed response and never read it."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from torture_support import ALL, ServerProcess, Settings, mib, read_until_closed, servers, timed_get

CLIENTS = 200
"""The same in --soak mode: each stalled connection also pins up to 4 MiB of the server's kernel send
buffer, and more of them would press on the machine's TCP memory, not on the server under test."""
SIZE = 200 * 2**20
SEND_TIMEOUT = 3
MEMORY_PER_CLIENT = 192 * 1024
"""What one stalled reader may cost pyre-server: its bounded write buffer and one app chunk, with margin
(before issue #16 item 4 was fixed each cost ~300 KiB)."""


async def stalled_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection with a small receive buffer that asks for ``SIZE`` bytes and then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.transport.pause_reading()
    writer.write(b"GET /stream?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % SIZE)
    return reader, writer


async def attack(
    server: ServerProcess, clients: int, hold: float, count_closed: bool
) -> tuple[int, int, int]:
    """Peak RSS growth over ``hold`` seconds, connections the server closed by then, bystander status."""
    await asyncio.sleep(0.5)
    baseline = server.rss()
    streams = [await stalled_client(server.port) for _ in range(clients)]
    started = time.monotonic()
    peak = baseline
    try:
        while time.monotonic() - started < hold:
            await asyncio.sleep(0.25)
            peak = max(peak, server.rss())
        bystander, _ = await timed_get(server.port)
        closed = 0
        if count_closed:
            # A server that gave up on a reader has closed: what is left in the buffers, then EOF or RST.
            for _, writer in streams:
                writer.transport.resume_reading()
            endings = await asyncio.gather(*(read_until_closed(reader, 1.0) for reader, _ in streams))
            closed = sum(ending.how != "open" for ending in endings)
        return peak - baseline, closed, bystander
    finally:
        for _, writer in streams:
            writer.transport.abort()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_slow_reader_memory(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    clients = CLIENTS
    server = await launch(kind, Settings(keep_alive=5))
    load = f"{clients} clients request a {mib(SIZE)} stream and never read"
    with measure(server, "slow reader: memory", load) as m:
        growth, _, bystander = await attack(server, clients, hold=3.0, count_closed=False)
        m.outcome(
            f"RSS +{mib(growth)} while stalled; bystander {'served' if bystander == 200 else 'NOT served'}",
            f"{growth / clients / 1024:.0f} KiB per stalled client",
        )
        m.require(bystander == 200, "a normal client was not served while the readers stalled")
        m.require(
            growth <= MEMORY_PER_CLIENT * clients, f"more than {MEMORY_PER_CLIENT // 1024} KiB per client"
        )
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_slow_reader_send_timeout(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    server = await launch(kind, Settings(keep_alive=5, pyre_flags=("--timeout-send", str(SEND_TIMEOUT))))
    clients = 50
    hold = SEND_TIMEOUT * 2 + 2
    load = f"{clients} clients stall on a {mib(SIZE)} stream for {hold} s; pyre send timeout {SEND_TIMEOUT} s"
    with measure(server, "slow reader: send timeout", load) as m:
        _, closed, _ = await attack(server, clients, hold=hold, count_closed=True)
        stats = await server.settled_stats()
        m.outcome(
            f"{closed}/{clients} stalled connections closed by the server within {hold} s",
            f"app streams closed: {stats['streams_closed']}/{stats['streams_started']}",
        )
        m.require(closed == clients, f"{clients - closed} stalled connections still open after {hold} s")
        m.require(
            stats["streams_closed"] == stats["streams_started"], "the app's streams were not all stopped"
        )
