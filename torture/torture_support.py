"""Servers in their own processes, raw loopback clients, /proc measurements and the report's rows.

The server under test is a real process started from its command line, bound to 127.0.0.1; the
attacks run in the pytest process.  pyre-server is the subject (its rows are assertions); uvicorn and
granian run the same ASGI app with equivalent settings and are only measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
READ_TIMEOUT = 10.0
SUBJECTS = ("pyre", "pyre-asgi")
PEERS = ("uvicorn", "granian")
# What only a broken event loop or a lost task prints: the server itself failed, not the app.
CRASH_MARKERS = ("Exception in callback", "exception was never retrieved", "Fatal error", "Segmentation")


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, in this process (the servers it starts inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Settings:
    """The knobs an attack sets, given to each server under its own flag where it has one."""

    keep_alive: int = 5
    header_timeout: int | None = None
    body_timeout: int | None = None
    drain: int | None = 3
    """Short, so that stopping a server after an attack takes seconds."""
    pyre_flags: tuple[str, ...] = ()
    """pyre-server flags with no peer equivalent (limits, body rate, send timeout)."""

    def command(self, kind: str, port: int) -> list[str]:
        python = sys.executable
        if kind in SUBJECTS:
            app = "torture_apps:native" if kind == "pyre" else "torture_apps:asgi"
            interface = "pyre" if kind == "pyre" else "asgi"
            command = [python, "-m", "pyre.server", app, "--interface", interface, "--port", str(port)]
            command += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
            command += ["--timeout-keep-alive", str(self.keep_alive)]
            if self.header_timeout is not None:
                command += ["--timeout-header", str(self.header_timeout)]
            if self.body_timeout is not None:
                command += ["--timeout-body", str(self.body_timeout)]
            if self.drain is not None:
                command += ["--timeout-drain", str(self.drain)]
            return command + list(self.pyre_flags)
        if kind == "uvicorn":
            command = [python, "-m", "uvicorn", "torture_apps:asgi", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--no-access-log", "--log-level", "warning", "--lifespan", "on"]
            command += ["--timeout-keep-alive", str(self.keep_alive)]
            if self.drain is not None:
                command += ["--timeout-graceful-shutdown", str(self.drain)]
            return command
        if kind == "granian":
            command = [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
            command += ["--http", "1"]
            if self.header_timeout is not None:
                command += ["--http1-header-read-timeout", str(self.header_timeout * 1000)]
            if self.drain is not None:
                command += ["--workers-kill-timeout", str(self.drain)]
            return [*command, "torture_apps:asgi"]
        raise ValueError(kind)


class ServerProcess:
    """One server process on a free loopback port, its log in a file."""

    def __init__(self, kind: str, settings: Settings, log_path: Path) -> None:
        self.kind = kind
        self.subject = kind in SUBJECTS
        self.port = free_port()
        self.log_path = log_path
        self.command = settings.command(kind, self.port)
        environment = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=HERE, env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    async def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} exited at startup: {self.log()[-2000:]}")
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                reply = await get(self.port, "/_stats", within=2.0)
                if reply.status == 200:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not answer within {within} s: {self.log()[-2000:]}")

    def wait_ready_blocking(self, within: float = 30.0) -> None:
        """``wait_ready`` for fixtures outside an event loop: the port accepts and ``/_stats`` answers."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} exited at startup: {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 2) as sock:
                sock.sendall(b"GET /_stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not answer within {within} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def crash_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if any(m in line for m in CRASH_MARKERS)]

    def pids(self) -> list[int]:
        """The process and its descendants (granian serves from a worker process)."""
        found, pending = [], [self.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as children:
                        pending += [int(child) for child in children.read().split()]
        return found

    def rss(self) -> int:
        """Resident bytes of the whole process tree."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE_SIZE
        return total

    def fds(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += len(os.listdir(f"/proc/{pid}/fd"))
        return total

    async def settled_stats(self, within: float = 3.0) -> dict[str, Any]:
        """``stats()`` once every stream the app started has been stopped (or ``within`` passed)."""
        deadline = time.monotonic() + within
        while (stats := await self.stats())["streams_started"] != stats["streams_closed"]:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        return stats

    async def stats(self) -> dict[str, Any]:
        """The app's own view (gc-tracked objects, stream counters), from ``/_stats``."""
        reply = await get(self.port, "/_stats")
        return json.loads(reply.body)  # type: ignore[no-any-return]

    def terminate(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        self.terminate()
        if self.wait(15) is None:
            self.process.kill()
            self.process.wait(5)


# -- raw HTTP/1.1 on loopback --------------------------------------------------------------------

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?")


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


def parse_head(head: bytes) -> Reply:
    lines = head.split(b"\r\n")
    match = STATUS_LINE.fullmatch(lines[0])
    if not match:
        raise ValueError(f"not a status line: {lines[0][:100]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
    return Reply(int(match.group(1)), headers)


async def read_reply(reader: asyncio.StreamReader, *, head_only: bool = False) -> Reply:
    """One final response (interim 1xx skipped), its content read by its framing."""
    while True:
        reply = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        if reply.status >= 200 or reply.status == 101:
            break
    if head_only or reply.status in (101, 204, 304):
        return reply
    if (reply.header(b"transfer-encoding") or b"").lower().endswith(b"chunked"):
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass
        reply.body = b"".join(chunks)
    elif (length := reply.header(b"content-length")) is not None:
        reply.body = await reader.readexactly(int(length))
    else:
        reply.body = await reader.read()
    return reply


def split_replies(data: bytes) -> list[int]:
    """The statuses of the complete final responses in ``data``, in order (1xx skipped).

    Chunked content is skipped to its last-chunk without trailers: what the torture apps send.
    """
    statuses = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        try:
            reply = parse_head(data[:end])
        except ValueError:
            statuses.append(-1)  # bytes that are not a response where one should start
            break
        data = data[end + 4 :]
        if reply.status < 200:
            continue
        statuses.append(reply.status)
        length = reply.header(b"content-length")
        if (reply.header(b"transfer-encoding") or b"").lower().endswith(b"chunked"):
            terminator = data.find(b"\r\n0\r\n\r\n")
            if data.startswith(b"0\r\n\r\n"):
                terminator = -2
            if terminator == -1:
                break
            data = data[terminator + 7 :]
        elif length is not None:
            data = data[int(length) :]
        elif reply.status not in (204, 304):
            break
    return statuses


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, limit=2**20)


async def get(port: int, path: str = "/", within: float = READ_TIMEOUT) -> Reply:
    """A fresh connection, one GET with ``connection: close``."""
    request = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode()
    return await exchange_one(port, request, within)


async def exchange_one(port: int, data: bytes, within: float = READ_TIMEOUT) -> Reply:
    reader, writer = await connect(port)
    try:
        writer.write(data)
        return await asyncio.wait_for(read_reply(reader), within)
    finally:
        writer.close()


async def timed_get(port: int, path: str = "/") -> tuple[int, float]:
    """Status and seconds of one request from a new client: the bystander served during an attack."""
    started = time.monotonic()
    try:
        status = (await get(port, path)).status
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        status = 0
    return status, time.monotonic() - started


@dataclass
class Closed:
    """How a connection ended, seen from the client."""

    data: bytes
    how: str  # "eof", "reset" or "open" (still open when we stopped waiting)
    seconds: float


async def read_until_closed(
    reader: asyncio.StreamReader, within: float, started: float | None = None
) -> Closed:
    started = time.monotonic() if started is None else started
    chunks: list[bytes] = []
    deadline = started + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                return Closed(b"".join(chunks), "eof", time.monotonic() - started)
            chunks.append(chunk)
    except TimeoutError:
        pass
    except OSError:
        # StreamReader raises the reset before handing out what it had buffered: take that too.
        chunks.append(bytes(reader._buffer))  # type: ignore[attr-defined]
        return Closed(b"".join(chunks), "reset", time.monotonic() - started)
    return Closed(b"".join(chunks), "open", time.monotonic() - started)


async def send_and_close_write(port: int, data: bytes, within: float) -> Closed:
    """Send ``data``, shut our write side, read until the server closes (or ``within`` seconds)."""
    reader, writer = await connect(port)
    try:
        with contextlib.suppress(OSError):
            writer.write(data)
            await writer.drain()
            writer.write_eof()
        return await read_until_closed(reader, within)
    finally:
        writer.transport.abort()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def gather_bounded(jobs: list[Callable[[], Any]], concurrency: int) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Any]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


def mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


# -- the report ----------------------------------------------------------------------------------


@dataclass
class Row:
    attack: str
    load: str
    server: str
    nodeid: str
    outcome: str = "not measured"
    numbers: str = ""
    failures: list[str] = field(default_factory=list)


class Measurement:
    """One server's row for one attack.  ``require`` asserts for the subject and only notes for a peer."""

    def __init__(self, row: Row, subject: bool) -> None:
        self.row = row
        self.subject = subject

    def outcome(self, text: str, numbers: str = "") -> None:
        self.row.outcome = text
        self.row.numbers = numbers

    def require(self, condition: bool, failure: str) -> None:
        if condition:
            return
        self.row.failures.append(failure)
        if self.subject:
            raise AssertionError(
                f"{self.row.attack}: {failure}\n  measured: {self.row.outcome}; {self.row.numbers}"
            )


class Report:
    """Rows collected through the session, written as docs/reliability.md's table at the end."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.results: dict[str, str] = {}
        self.reasons: dict[str, str] = {}

    @contextlib.contextmanager
    def measure(
        self, nodeid: str, server: ServerProcess | str, attack: str, load: str
    ) -> Iterator[Measurement]:
        kind = server if isinstance(server, str) else server.kind
        row = Row(attack, load, kind, nodeid)
        self.rows.append(row)
        measurement = Measurement(row, kind in SUBJECTS)
        if measurement.subject:
            yield measurement
            return
        try:
            yield measurement
        except Exception as error:  # a peer's failure is a measurement, never the suite's failure
            row.outcome = f"{row.outcome}; measurement stopped: {type(error).__name__} {error}"[:300]


@contextlib.asynccontextmanager
async def started(kind: str, settings: Settings, log_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(kind, settings, log_path)
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


def servers(*kinds: str, defect: str | None = None) -> list[Any]:
    """Test parameters, one per server kind; ``defect`` marks the subject's case a strict xfail.

    A defect mark flips to a failure once pyre-server is fixed: then delete the mark.
    """
    import pytest

    marks = [pytest.mark.xfail(strict=True, reason=defect)] if defect else []
    return [pytest.param(kind, id=kind, marks=marks if kind in SUBJECTS else []) for kind in kinds]


def cases_on_every_server(names: Iterable[str], known_defects: Mapping[str, str]) -> list[Any]:
    """``(name, kind)`` parameters for each case on each server of ``ALL``; a case in
    ``known_defects`` is a strict xfail on the subjects, as ``servers`` marks it."""
    import pytest

    params = []
    for name in names:
        for server in servers(*ALL, defect=known_defects.get(name)):
            (kind,) = server.values
            params.append(pytest.param(name, kind, id=f"{name}-{kind}", marks=server.marks))
    return params


ALL = ("pyre", "uvicorn", "granian")
