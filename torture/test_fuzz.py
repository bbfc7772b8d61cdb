"""A seeded mutation fuzzer with h11 as the boundary oracle.

Valid requests are mutated (bytes flipped, inserted, deleted, lines duplicated, numbers changed) and
each result is sent on its own connection, then the write side is shut.  h11 parses the same bytes as
a server would.  Wherever h11 rejects a request, pyre-server must not answer it (or anything after it)
with a 2xx; and pyre-server must always finish the exchange (close) within a bound and never crash.
Where pyre-server is stricter than h11 it is counted, not failed.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

import h11
import pytest
from torture_support import (
    ALL,
    Closed,
    ServerProcess,
    Settings,
    gather_bounded,
    send_and_close_write,
    servers,
    split_replies,
)

SEED = 20261201
QUICK_CASES = 10_000
SOAK_CASES = 500_000
BATCH = 5000
CONCURRENCY = 16

CORPUS = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /echo?a=1&b=%20 HTTP/1.1\r\nHost: t\r\nAccept: */*\r\nUser-Agent: fuzz/1.0\r\nX-A: b, c\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET http://t/echo HTTP/1.1\r\nHost: t\r\n\r\n",
]
INSERTS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x00",
    b" ",
    b"\t",
    b":",
    b",",
    b";",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"0",
    b"-",
    b"chunked",
    b"\r\n\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Host: u\r\n",
    b" HTTP/1.1",
    b"\r\n ",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(buffer) + 1)
        operation = rng.randrange(6)
        if operation == 0 and buffer:
            buffer[min(where, len(buffer) - 1)] = rng.randrange(256)
        elif operation == 1:
            buffer[where:where] = rng.choice(INSERTS)
        elif operation == 2:
            del buffer[where : where + rng.randint(1, 8)]
        elif operation == 3:
            lines = bytes(buffer).split(b"\r\n")
            line = rng.randrange(len(lines))
            lines.insert(line, lines[line])
            buffer = bytearray(b"\r\n".join(lines))
        elif operation == 4:
            digits = [i for i, byte in enumerate(buffer) if 0x30 <= byte <= 0x39]
            if digits:
                at = rng.choice(digits)
                buffer[at : at + 1] = str(rng.choice([0, 1, 9, 10, 99, 65536, 10**20])).encode()
        else:
            del buffer[where:]
    return bytes(buffer)


def cases(count: int) -> list[bytes]:
    rng = random.Random(SEED)
    return [mutate(rng.choice(CORPUS), rng) for _ in range(count)]


EMPTY_LINES_FIRST = re.compile(rb"^(?:\r?\n)+")
EMPTY_LINES_BETWEEN = re.compile(rb"\r\n\r\n(?:\r?\n)+")
SPACE_BEFORE_CHUNK_EXT = re.compile(rb"(\r\n[0-9a-fA-F]+)[ \t]+;")


def h11_verdict(data: bytes) -> tuple[int, bool]:
    """How many requests h11 reads in full, and whether it then rejects the next one.

    Where h11 is stricter than RFC 9112 the verdict on the bytes without that counts: empty lines
    (CRLF or LF) before a request-line may be ignored (section 2.2), h11 refuses more than one first or
    any between pipelined requests; whitespace before a chunk extension is BWS (section 7.1.1).
    """
    accepted, rejected = h11_parse(data)
    if rejected:
        lenient = EMPTY_LINES_BETWEEN.sub(b"\r\n\r\n", EMPTY_LINES_FIRST.sub(b"", data))
        verdict = h11_parse(SPACE_BEFORE_CHUNK_EXT.sub(rb"\1;", lenient))
        if verdict[1] is False or verdict[0] > accepted:
            return verdict
    return accepted, rejected


def h11_parse(data: bytes) -> tuple[int, bool]:
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=32768)
    connection.receive_data(data)
    connection.receive_data(b"")
    complete = 0
    try:
        while True:
            event = connection.next_event()
            if isinstance(event, h11.EndOfMessage):
                complete += 1
            elif event is h11.PAUSED:
                connection.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                connection.send(h11.EndOfMessage())
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return complete, False
                connection.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed) or event is h11.NEED_DATA:
                return complete, False
    except h11.RemoteProtocolError:
        return complete, True
    except h11.LocalProtocolError:
        return complete, False


@dataclass
class Outcome:
    cases: int = 0
    h11_rejected: int = 0
    disagreements: list[bytes] = field(default_factory=list)
    stricter: int = 0
    unfinished: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


async def fuzz(server: ServerProcess, count: int) -> Outcome:
    outcome = Outcome(count)
    data = cases(count)
    for start in range(0, count, BATCH):
        batch = data[start : start + BATCH]
        endings = await gather_bounded(
            [lambda d=d: send_and_close_write(server.port, d, within=5.0) for d in batch], CONCURRENCY
        )
        judge(outcome, batch, endings)
    return outcome


def judge(outcome: Outcome, data: list[bytes], endings: list[Closed]) -> None:
    for case, ending in zip(data, endings, strict=True):
        statuses = split_replies(ending.data)
        outcome.statuses.update(statuses)
        outcome.unfinished += ending.how == "open"
        accepted, rejected = h11_verdict(case)
        outcome.h11_rejected += rejected
        if rejected and any(200 <= status < 300 for status in statuses[accepted:]):
            outcome.disagreements.append(case)
        elif not rejected and sum(200 <= s < 300 for s in statuses) < accepted:
            outcome.stricter += 1


@pytest.mark.timeout(900)
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", servers(*ALL))
async def test_mutation_fuzzer_against_h11(kind: str, launch, measure, soak: bool) -> None:  # type: ignore[no-untyped-def]
    count = SOAK_CASES if soak else QUICK_CASES
    server = await launch(kind, Settings(keep_alive=2, header_timeout=2, body_timeout=2))
    load = f"{count} mutated requests (seed {SEED}), one connection each"
    with measure(server, "mutation fuzzer, h11 as the oracle", load) as m:
        outcome = await fuzz(server, count)
        top = ", ".join(f"{status}: {n}" for status, n in sorted(outcome.statuses.most_common(6)))
        m.outcome(
            f"{len(outcome.disagreements)} answered 2xx where h11 rejects; "
            f"{outcome.unfinished} not closed within 5 s",
            f"h11 rejected {outcome.h11_rejected}; stricter than h11 on {outcome.stricter}; statuses {top}",
        )
        shown = [repr(case) for case in outcome.disagreements[:10]]
        m.require(not outcome.disagreements, f"2xx where h11 rejects (seed {SEED}): {shown}")
        m.require(outcome.unfinished == 0, f"{outcome.unfinished} exchanges did not finish")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
