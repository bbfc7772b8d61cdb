"""Slowloris: many connections trickle a request one byte a second; the server cuts them off."""

from __future__ import annotations

import asyncio
import time

import pytest
from torture_support import (
    ALL,
    Closed,
    ServerProcess,
    Settings,
    connect,
    read_until_closed,
    servers,
    timed_get,
)

CONNECTIONS = 200
HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2


async def trickle(
    server: ServerProcess, prefix: bytes, window: float, soak: bool
) -> tuple[list[Closed], list[tuple[int, float]]]:
    """``CONNECTIONS`` clients send ``prefix`` then one byte a second; a bystander asks every 0.5 s."""
    count = CONNECTIONS * (5 if soak else 1)
    streams = [await connect(server.port) for _ in range(count)]
    started = time.monotonic()
    for _, writer in streams:
        writer.write(prefix)
    endings = [asyncio.ensure_future(read_until_closed(reader, window, started)) for reader, _ in streams]

    async def drip() -> None:
        while True:
            await asyncio.sleep(1.0)
            for _, writer in streams:
                if not writer.is_closing():
                    try:
                        writer.write(b"a")
                    except OSError:
                        pass

    async def bystander() -> list[tuple[int, float]]:
        seen = []
        while time.monotonic() - started < window - 1:
            seen.append(await timed_get(server.port))
            await asyncio.sleep(0.5)
        return seen

    dripping = asyncio.ensure_future(drip())
    try:
        served = await bystander()
        closed = await asyncio.gather(*endings)
    finally:
        dripping.cancel()
        for _, writer in streams:
            writer.transport.abort()
    return closed, served


def summarise(closed: list[Closed], served: list[tuple[int, float]]) -> tuple[int, float, int, float]:
    cut = [c for c in closed if c.how != "open"]
    slowest = max((c.seconds for c in cut), default=0.0)
    ok = sum(status == 200 for status, _ in served)
    worst = max((seconds for _, seconds in served), default=0.0)
    return len(cut), slowest, ok, worst


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_slowloris_head(kind: str, launch, measure, soak: bool) -> None:  # type: ignore[no-untyped-def]
    server = await launch(kind, Settings(header_timeout=HEADER_TIMEOUT, keep_alive=5))
    window = HEADER_TIMEOUT * 2 + 2
    load = (
        f"{CONNECTIONS * (5 if soak else 1)} connections, head at 1 byte/s, header timeout {HEADER_TIMEOUT} s"
    )
    with measure(server, "slowloris: request head", load) as m:
        closed, served = await trickle(server, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ", window, soak)
        cut, slowest, ok, worst = summarise(closed, served)
        answered = sum(c.data.startswith(b"HTTP/1.1 408") for c in closed)
        m.outcome(
            f"{cut}/{len(closed)} cut off within {window} s ({answered} with 408); "
            f"bystander {ok}/{len(served)} served",
            f"last cut at {slowest:.1f} s; bystander slowest {worst * 1000:.0f} ms",
        )
        m.require(
            cut == len(closed), f"{len(closed) - cut} slowloris connections still open after {window} s"
        )
        m.require(slowest <= HEADER_TIMEOUT * 2 + 1, f"cut off only after {slowest:.1f} s")
        m.require(ok == len(served), "the bystander was not served during the attack")
        m.require(worst < 3.0, f"the bystander waited {worst:.1f} s")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_slowloris_body(kind: str, launch, measure, soak: bool) -> None:  # type: ignore[no-untyped-def]
    # pyre-server's default minimum body rate (limit_body_rate, 500 B/s) is what cuts these off.
    server = await launch(kind, Settings(body_timeout=BODY_TIMEOUT, keep_alive=5))
    window = BODY_TIMEOUT * 2 + 2
    load = (
        f"{CONNECTIONS * (5 if soak else 1)} connections, full head + Content-Length 100000, "
        f"body at 1 byte/s, body timeout {BODY_TIMEOUT} s"
    )
    with measure(server, "slowloris: request body", load) as m:
        head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
        closed, served = await trickle(server, head, window, soak)
        cut, slowest, ok, worst = summarise(closed, served)
        answered = sum(c.data.startswith(b"HTTP/1.1 408") for c in closed)
        m.outcome(
            f"{cut}/{len(closed)} cut off within {window} s ({answered} with 408); "
            f"bystander {ok}/{len(served)} served",
            f"last cut at {slowest:.1f} s; bystander slowest {worst * 1000:.0f} ms",
        )
        m.require(ok == len(served), "the bystander was not served during the attack")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
        m.require(
            cut == len(closed), f"{len(closed) - cut} slow-body connections still open after {window} s"
        )
        m.require(answered == len(closed), "not every slow body was answered 408")
