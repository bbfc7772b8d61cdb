"""Oversized everything: request line, header section, header count, body; precise status, no crash."""

from __future__ import annotations

import asyncio
import time

import pytest
from torture_support import Settings, cases_on_every_server, connect, read_until_closed, split_replies

GIB = 2**30
# name: (head, body bytes the client goes on sending after it, the statuses pyre-server may answer)
CASES: dict[str, tuple[bytes, int, set[int]]] = {
    "request-target of 64 KiB": (b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 0, {414}),
    "one header of 64 KiB": (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 65536 + b"\r\n\r\n", 0, {431}),
    "header name of 40 KiB": (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X" * 40960 + b": v\r\n\r\n", 0, {431}),
    "1,000 headers": (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 1000 + b"\r\n", 0, {431}),
    "method of 16 KiB": (b"G" * 16384 + b" / HTTP/1.1\r\nHost: t\r\n\r\n", 0, {501}),
    "Content-Length: 1 GiB, body sent": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % GIB,
        8 * 2**20,
        {413},
    ),
    "Content-Length of 30 digits": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n",
        0,
        {400, 413},
    ),
    "chunked body of 20 MiB (limit 16 MiB)": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        20 * 2**20,
        {413},
    ),
    "chunk extension of 64 KiB": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;e="
        + b"x" * 65536
        + b"\r\nhello\r\n0\r\n\r\n",
        0,
        {400, 431},
    ),
    "trailer section of 64 KiB": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "
        + b"t" * 65536
        + b"\r\n\r\n",
        0,
        {431},
    ),
}


def body_stream(size: int, chunked: bool) -> list[bytes]:
    piece = b"b" * 65536
    if chunked and size:
        return [b"10000\r\n" + piece + b"\r\n"] * (size // len(piece)) + [b"0\r\n\r\n"]
    return [piece] * (size // len(piece))


KNOWN_DEFECTS: dict[str, str] = {}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("case", "kind"), cases_on_every_server(CASES, KNOWN_DEFECTS))
async def test_oversized(case: str, kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    server = shared(kind, Settings(keep_alive=2))
    head, body_size, expected = CASES[case]
    with measure(server, f"oversized: {case}", "one request") as m:
        reader, writer = await connect(server.port)
        started = time.monotonic()
        try:
            writer.write(head)
            sent = 0
            for piece in body_stream(body_size, b"chunked" in head):
                if writer.is_closing() or reader.at_eof():
                    break
                writer.write(piece)
                try:
                    await asyncio.wait_for(writer.drain(), 5)
                except (OSError, TimeoutError):
                    break
                sent += len(piece)
            ending = await read_until_closed(reader, 4, started)
        finally:
            writer.transport.abort()
        statuses = split_replies(ending.data)
        answered = statuses[0] if statuses else None
        after = f" after {sent // 2**20} MiB of body" if body_size else ""
        m.outcome(f"{answered or 'no response'}, {ending.how}{after}", f"{ending.seconds * 1000:.0f} ms")
        m.require(answered in expected, f"expected {' or '.join(map(str, sorted(expected)))}")
        m.require(ending.how != "open", "the connection stayed open")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")
