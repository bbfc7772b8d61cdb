"""Half-close: the client sends whole requests and shuts its write side; the responses still arrive."""

from __future__ import annotations

import pytest
from torture_support import ALL, Settings, send_and_close_write, servers, split_replies

REQUESTS = {
    "GET": b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    "POST with a body": b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    "chunked POST": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ),
    "3 pipelined": b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 3,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_half_close(kind: str, launch, measure) -> None:  # type: ignore[no-untyped-def]
    server = await launch(kind, Settings(keep_alive=5))
    rounds = 20
    with measure(
        server, "half-close after a full request (SHUT_WR)", f"{len(REQUESTS)} shapes x {rounds}"
    ) as m:
        answered, closed_after, worst = 0, 0, 0.0
        failures = []
        for name, data in REQUESTS.items():
            expected = data.count(b"HTTP/1.1\r\n")
            for _ in range(rounds):
                result = await send_and_close_write(server.port, data, within=10)
                statuses = split_replies(result.data)
                worst = max(worst, result.seconds)
                if statuses == [200] * expected:
                    answered += 1
                else:
                    failures.append(f"{name}: got {statuses} ({result.how})")
                closed_after += result.how != "open"
        total = len(REQUESTS) * rounds
        m.outcome(
            f"{answered}/{total} answered in full, {closed_after}/{total} closed by the server after",
            f"slowest {worst * 1000:.0f} ms",
        )
        m.require(answered == total, f"not every half-closed request was answered: {failures[:3]}")
        m.require(closed_after == total, "the server kept a half-closed connection open after answering")
