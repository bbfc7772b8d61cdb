"""Request syntax llhttp lets through and RFC 9112 does not (issue 16, item 10).

Every case goes over a real socket to a real Server, whole, byte by byte, and
pipelined behind a valid request; h11 is the oracle where it follows the RFC.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re

import h11
import pytest
from server_support import echo, serve, status_of

from pyre.server import Server

HOST = b"Host: x\r\n"
CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
VALID = b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"

# name: (request, whether h11 refuses it too)
REFUSED = {
    "two spaces after the method": (b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "two spaces before the version": (b"GET /  HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "spaces around the target": (b"GET   /a   HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "a bare CR before the request line": (b"\rGET / HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "a lone LF before the request line": (b"\nGET / HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "CR CR LF before the request line": (b"\r\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "a tab after the method": (b"GET\t/ HTTP/1.1\r\n" + HOST + b"\r\n", True),
    "a tab before the version": (b"GET /\tHTTP/1.1\r\n" + HOST + b"\r\n", True),
    "a space after the version": (b"GET / HTTP/1.1 \r\n" + HOST + b"\r\n", True),
    "a space before the method": (b" GET / HTTP/1.1\r\n" + HOST + b"\r\n", True),
    # RFC 9112 section 5.2 lets a server refuse obs-fold with 400; h11 unfolds it.
    "obs-fold": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\r\n b\r\n\r\n", False),
    # RFC 9112 section 2.2 lets a recipient take a lone LF as a line end; h11 does, Pyre does not.
    "lone LF line ends": (b"GET / HTTP/1.1\nHost: x\n\n", False),
    "a lone LF ending the request line": (b"GET / HTTP/1.1\nHost: x\r\n\r\n", False),
    "a lone LF ending the head": (b"GET / HTTP/1.1\r\nHost: x\r\n\n", False),
    # h11 allows 20 digits.
    "17 chunk-size digits": (CHUNKED + b"00000000000000005\r\nhello\r\n0\r\n\r\n", False),
    "300 leading zeros in a chunk size": (CHUNKED + b"0" * 300 + b"5\r\nhello\r\n0\r\n\r\n", True),
    "a chunk line over 4096 bytes": (CHUNKED + b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n", False),
    # RFC 9112 section 7.1.1: BWS only before ";" (h11 allows it at the end of the line).
    "whitespace after a chunk size": (CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", False),
    "too many zeros in the last chunk": (CHUNKED + b"5\r\nhello\r\n" + b"0" * 21 + b"\r\n\r\n", True),
}

ACCEPTED = {
    "one empty line before the request line": b"\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n",
    "three empty lines before the request line": b"\r\n\r\n\r\nGET / HTTP/1.1\r\n" + HOST + b"\r\n",
    "16 chunk-size digits": CHUNKED + b"0000000000000005\r\nhello\r\n0\r\n\r\n",
    "BWS before a chunk extension": CHUNKED + b"5 ;name=value\r\nhello\r\n0\r\n\r\n",
    "a 4000-byte chunk extension": CHUNKED + b"5;" + b"e" * 4000 + b"\r\nhello\r\n0\r\n\r\n",
    "trailers": CHUNKED + b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n",
    "absolute-form": b"GET http://x/a?b HTTP/1.1\r\n" + HOST + b"\r\n",
    "an unknown method": b"BREW /pot HTTP/1.1\r\n" + HOST + b"\r\n",
    "HTTP/1.0": b"GET / HTTP/1.0\r\n\r\n",
}


def h11_refuses(data: bytes) -> bool:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        while connection.next_event() not in (h11.NEED_DATA, h11.PAUSED):
            pass
    except h11.RemoteProtocolError:
        return True
    return False


async def send(server: Server, parts: list[bytes], pause: float = 0.0) -> bytes:
    """Send each part as its own write, then read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def statuses(raw: bytes) -> list[int]:
    """The statuses of the responses in ``raw`` (the bodies echoed here hold no status line)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) [A-Z]", raw)]


@pytest.mark.parametrize("name", list(REFUSED))
async def test_refused_with_400_and_close(name: str) -> None:
    request, h11_agrees = REFUSED[name]
    assert h11_refuses(request) is h11_agrees
    async with serve(echo) as server:
        raw = await send(server, [request])
    assert status_of(raw) == 400
    assert b"connection: close" in raw.split(b"\r\n\r\n")[0]
    assert statuses(raw) == [400]


@pytest.mark.parametrize("name", list(REFUSED))
async def test_refused_behind_a_valid_request(name: str) -> None:
    request, _ = REFUSED[name]
    async with serve(echo) as server:
        raw = await send(server, [VALID + request])
    assert statuses(raw) == [200, 400]


@pytest.mark.parametrize(
    "name",
    [
        "two spaces after the method",
        "two spaces before the version",
        "a bare CR before the request line",
        "CR CR LF before the request line",
        "17 chunk-size digits",
        "whitespace after a chunk size",
        "too many zeros in the last chunk",
    ],
)
async def test_refused_when_it_arrives_a_byte_at_a_time(name: str) -> None:
    request, _ = REFUSED[name]
    async with serve(echo) as server:
        raw = await send(server, [VALID] + [request[i : i + 1] for i in range(len(request))], pause=0.002)
    assert statuses(raw) == [200, 400]


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_accepted(name: str) -> None:
    request = ACCEPTED[name]
    assert not h11_refuses(request) or name.endswith("before the request line") or "BWS" in name
    async with serve(echo) as server:
        raw = await send(server, [request])
    assert statuses(raw) == [200]


PIPELINE = (
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    b"\r\n"  # the empty line some clients send after a body
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n0002\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
    b"GET /d?q HTTP/1.1\r\nHost: x\r\n\r\n"
    b"GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
)


def cuts(size: int, offset: int) -> list[bytes]:
    head = [PIPELINE[:offset]] if offset else []
    return head + [PIPELINE[i : i + size] for i in range(offset, len(PIPELINE), size)]


@pytest.mark.parametrize(
    "parts",
    [[PIPELINE]]
    + [cuts(size, offset) for size in (1, 2, 3, 7, 64) for offset in (0, 1)]
    + [
        [
            PIPELINE[a:b]
            for a, b in itertools.pairwise(
                [0, *sorted(random.Random(seed).sample(range(1, len(PIPELINE)), 6)), len(PIPELINE)]
            )
        ]
        for seed in range(20)
    ],
)
async def test_valid_pipelines_pass_however_they_are_cut(parts: list[bytes]) -> None:
    async with serve(echo) as server:
        raw = await send(server, parts, pause=0.001 if len(parts) > 1 else 0.0)
    assert statuses(raw) == [200] * 5
    assert b"x-path: /e" in raw


async def test_a_bad_request_line_after_a_chunked_body_in_the_same_read() -> None:
    async with serve(echo) as server:
        raw = await send(server, [CHUNKED + b"2\r\nhi\r\n0\r\n\r\n" + b"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert statuses(raw) == [200, 400]


async def test_a_bare_cr_after_the_last_request_is_refused() -> None:
    async with serve(echo) as server:
        raw = await send(server, [VALID + b"\r\r"])
    assert statuses(raw) == [200, 400]


async def test_a_client_still_sending_after_a_malformed_body_receives_the_400() -> None:
    """RFC 9112 section 9.6: the close lingers, also once the app has finished, so the
    client's further bytes do not make the kernel reset the 400 away."""
    async with serve(echo) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(CHUNKED + b"5\r\nabcde\r\nzz\r\n")
        try:
            for _ in range(30):
                await asyncio.sleep(0.01)
                writer.write(b"more content the server will not read " * 100)
                await writer.drain()
        except ConnectionError:
            pass
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert status_of(raw) == 400


@pytest.mark.parametrize(
    "start",
    [b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ", CHUNKED + b"0\r\nX-Long-Trailer: "],
    ids=["header", "trailer"],
)
async def test_a_field_line_that_never_ends_gets_431_while_it_arrives(start: bytes) -> None:
    """llhttp keeps a field line until its end: without a bound on the bytes of an
    unfinished head, one connection could make the server hold gigabytes."""
    async with serve(echo) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(start)
        try:
            for _ in range(64):  # 1 MiB, far beyond limit_header_size, well within timeout_header
                writer.write(b"v" * 16384)
                await writer.drain()
        except ConnectionError:
            pass
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert status_of(raw) == 431
