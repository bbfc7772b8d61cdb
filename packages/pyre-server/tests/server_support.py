"""Real servers on loopback and a small HTTP/1.1 response reader for the tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyre.server import Config, Server
from pyre.spec import Application, Request, Response

TIMEOUT = 5.0


async def hello(request: Request) -> Response:
    return Response(200, [(b"content-type", b"text/plain")], b"Hello, world!")


async def echo(request: Request) -> Response:
    """Echoes what it received, in the body and in x- headers."""
    body = await request.body.read()
    headers = [
        (b"x-method", request.method.encode()),
        (b"x-path", request.path.encode()),
        (b"x-query", request.query),
        (b"x-authority", (request.authority or "-").encode()),
        (b"x-version", request.http_version.encode()),
    ]
    if request.trailers:
        headers += [(b"x-trailer-" + name.encode(), value.encode()) for name, value in request.trailers]
    return Response(200, headers, body)


@asynccontextmanager
async def serve(app: Application = hello, **options: Any) -> AsyncIterator[Server]:
    options.setdefault("port", 0)
    options.setdefault("access_log", False)
    options.setdefault("timeout_drain", 2.0)
    server = Server(app, Config(**options))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name]


class Client:
    """A raw connection: send bytes, read whole responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, *, head: bool = False) -> Reply:
        return await asyncio.wait_for(self._reply(head), TIMEOUT)

    async def _reply(self, head: bool) -> Reply:
        status_line = await self.reader.readuntil(b"\r\n")
        match = re.fullmatch(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n", status_line)
        assert match, status_line
        headers = await self._fields()
        status = int(match.group(1))
        names = {n.lower(): v for n, v in headers}
        if head or status in (204, 304) or 100 <= status < 200:
            return Reply(status, headers, b"")
        if b"transfer-encoding" in names:
            assert names[b"transfer-encoding"] == b"chunked"
            assert b"content-length" not in names
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return Reply(status, headers, body, await self._fields())
                body += await self.reader.readexactly(size)
                assert await self.reader.readexactly(2) == b"\r\n"
        if b"content-length" in names:
            return Reply(status, headers, await self.reader.readexactly(int(names[b"content-length"])))
        return Reply(status, headers, await self.reader.read())

    async def _fields(self) -> list[tuple[bytes, bytes]]:
        fields = []
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line[:-2].partition(b":")
            fields.append((name, value.strip()))
        return fields

    async def closed(self) -> bool:
        """Whether the server closes the connection (reads nothing more)."""
        try:
            return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b""
        except ConnectionResetError:
            return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@asynccontextmanager
async def connect(server: Server) -> AsyncIterator[Client]:
    client = await Client.connect(server.port)
    try:
        yield client
    finally:
        await client.close()


async def exchange(server: Server, data: bytes) -> bytes:
    """Send ``data`` and read everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()


def status_of(raw: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", raw)
    assert match, raw[:100]
    return int(match.group(1))


def open_fds() -> int:
    """File descriptors this process has open: the server's sockets and files among them."""
    return len(os.listdir("/proc/self/fd"))


async def fds_settle(baseline: int) -> int:
    """Open descriptors once they are back to ``baseline``, or after TIMEOUT if they never are."""
    for _ in range(int(TIMEOUT / 0.02)):
        if open_fds() <= baseline:
            break
        await asyncio.sleep(0.02)
    return open_fds()


HERE = os.path.dirname(__file__)


@contextmanager
def pyre_process(
    *arguments: str, cwd: str | Path = HERE, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``python -m pyre.server`` with ``arguments``, its stderr readable; stopped at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pyre.server", *arguments],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def listening(process: subprocess.Popen[str], seen: list[str] | None = None) -> int:
    """The port from the process's "Listening on" line; the lines before it go to ``seen``."""
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"the server exited before listening: {seen}"
        if seen is not None:
            seen.append(line)
        match = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("the server did not start listening")
