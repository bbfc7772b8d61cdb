"""SIGTERM under load: requests in flight finish (or get a clean close) and the process exits 0."""

from __future__ import annotations

import asyncio
import time

import pytest
from torture_support import ALL, Closed, Settings, connect, read_until_closed, servers, split_replies

IN_FLIGHT = 200
IDLE = 100
DRAIN = 5


async def load(
    port: int, path: str, count: int
) -> tuple[list[asyncio.Future[Closed]], list[asyncio.StreamWriter]]:
    futures, writers = [], []
    for _ in range(count):
        reader, writer = await connect(port)
        writer.write(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
        futures.append(asyncio.ensure_future(read_until_closed(reader, DRAIN * 3)))
        writers.append(writer)
    return futures, writers


def classify(endings: list[Closed]) -> dict[str, int]:
    kinds = {"200": 0, "503": 0, "clean close": 0, "reset or cut": 0}
    for ending in endings:
        statuses = split_replies(ending.data)
        if statuses[:1] == [200] or statuses[:1] == [503]:
            kinds[str(statuses[0])] += 1
        elif not ending.data and ending.how == "eof":
            kinds["clean close"] += 1
        else:
            kinds["reset or cut"] += 1
    return kinds


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_sigterm_with_requests_in_flight(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    server = await launch(kind, Settings(keep_alive=30, drain=DRAIN))
    text = f"{IN_FLIGHT} requests of 1 s in flight + {IDLE} idle keep-alive connections, drain {DRAIN} s"
    with measure(server, "SIGTERM under load", text) as m:
        idle, idle_writers = await load(server.port, "/", IDLE)
        busy, busy_writers = await load(server.port, "/sleep?s=1", IN_FLIGHT)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        server.terminate()
        code = await asyncio.to_thread(server.wait, DRAIN * 3)
        exited = time.monotonic() - started
        kinds = classify(await asyncio.gather(*busy))
        idle_closed = sum(ending.how != "open" for ending in await asyncio.gather(*idle))
        for writer in idle_writers + busy_writers:
            writer.transport.abort()
        m.outcome(
            f"in flight: {kinds['200']} answered 200, {kinds['clean close']} clean close, "
            f"{kinds['reset or cut']} reset or cut; idle closed {idle_closed}/{IDLE}; exit {code}",
            f"exited {exited:.1f} s after SIGTERM",
        )
        m.require(kinds["200"] == IN_FLIGHT, "a request in flight was not answered")
        m.require(idle_closed == IDLE, "idle connections were not closed")
        m.require(code == 0, f"exit status {code}")
        m.require(exited <= DRAIN + 3, f"exited only after {exited:.1f} s")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_sigterm_drain_timeout_expires(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    drain = 2
    server = await launch(kind, Settings(keep_alive=30, drain=drain))
    count = 50
    with measure(server, "SIGTERM, drain timeout expires", f"{count} requests of 30 s, drain {drain} s") as m:
        busy, writers = await load(server.port, "/sleep?s=30", count)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        server.terminate()
        code = await asyncio.to_thread(server.wait, drain * 4)
        exited = time.monotonic() - started
        kinds = classify(await asyncio.gather(*busy))
        for writer in writers:
            writer.transport.abort()
        m.outcome(
            f"{kinds['503']} answered 503, {kinds['clean close']} clean close, {kinds['reset or cut']} reset "
            f"or cut; exit {code}",
            f"exited {exited:.1f} s after SIGTERM",
        )
        m.require(code == 0, f"exit status {code}")
        m.require(exited <= drain + 3, f"exited only after {exited:.1f} s")
        m.require(kinds["reset or cut"] == 0, "a cancelled request's connection was reset or cut")
        m.require(kinds["503"] == count, "cancelled requests were not answered 503 (issue #16 item 9)")
