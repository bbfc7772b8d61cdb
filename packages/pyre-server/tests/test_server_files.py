"""``FileBody`` responses sent through pyre-spec's reader (``_files.py``): the region, its
descriptor, and a file that shrinks while it is sent."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib

import pytest
from server_support import TIMEOUT, connect, fds_settle, open_fds, serve

from pyre.spec import FileBody, Request, Response

BIG = 64 * 1024 * 1024  # sparse: far more than the socket buffers hold, so the server is still reading


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    parts = []
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), TIMEOUT):
            parts.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(parts)


async def test_a_file_region_is_sent_in_chunks_and_its_descriptor_closed(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "content.bin"
    content = os.urandom(600_000)  # three reads of the server's
    path.write_bytes(content)

    async def app(request: Request) -> Response:
        return Response(200, [], FileBody(fd=os.open(path, os.O_RDONLY), offset=7, count=590_000))

    async with serve(app) as server, connect(server) as client:
        baseline = open_fds()
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await client.reply()
        assert response.status == 200
        assert response.body == content[7:590_007]
        assert await fds_settle(baseline) == baseline


async def test_a_file_that_shrinks_while_it_is_sent_is_a_logged_abort(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as file:
        file.truncate(BIG)

    async def app(request: Request) -> Response:
        return Response(200, [], FileBody(path=path))

    caplog.set_level(logging.ERROR)
    async with serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert b"\r\ncontent-length: %d\r\n" % BIG in head
            first = await asyncio.wait_for(reader.readexactly(1 << 20), TIMEOUT)
            os.truncate(path, 2 << 20)
            rest = await read_until_closed(reader)
        finally:
            writer.close()
    assert len(first) + len(rest) < BIG  # cut short, so the client knows the content is incomplete
    (record,) = [r for r in caplog.records if r.name == "pyre.server" and r.levelno >= logging.ERROR]
    assert record.getMessage().startswith("Invalid response from the application to GET /: ")
    assert "the file ended" in record.getMessage()
