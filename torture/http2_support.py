"""The HTTP/2 attacks' parts: the app ``pyre serve`` runs, the server process, and a raw client that
writes frames by hand with hyperframe and hpack (an attack sends what ``h2``'s own client refuses to).

The client is blocking, with a deadline on every read: the server is another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from pyre.spec import Request, Response

HERE = Path(__file__).parent
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
WAIT = 20.0
"""The longest a read waits for the server; never a speed assertion."""

# --- the app -----------------------------------------------------------------------------------

in_flight = 0
started = 0


async def app(request: Request) -> Response:
    """``/``: hello; ``/slow?s=N``: answers after N seconds (counted in ``/stats`` meanwhile);
    ``/late-body?s=N``: the head at once, the body after N seconds; ``/echo``: the body read whole;
    ``/big``: 4 MiB; ``/stats``: handlers started and still running."""
    global in_flight, started
    if request.path == "/slow":
        started += 1
        in_flight += 1
        try:
            await asyncio.sleep(float(request.query.decode().partition("=")[2] or "30"))
        finally:
            in_flight -= 1
        return Response(200, [], b"slow")
    if request.path == "/late-body":
        return Response(200, [], _late(float(request.query.decode().partition("=")[2] or "2")))
    if request.path == "/echo":
        return Response(200, [], await request.body.read())
    if request.path == "/big":
        return Response(200, [], b"b" * (4 * 1024 * 1024))
    if request.path == "/stats":
        return Response(200, [], b"%d %d" % (started, in_flight))
    return Response(200, [], b"hello")


async def _late(seconds: float) -> AsyncIterator[bytes]:
    yield b"begun "
    await asyncio.sleep(seconds)
    yield b"finished"


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PyreProcess:
    """``pyre serve http2_support:app --h2c`` with more flags, on a free port, logging to a file."""

    def __init__(self, log_path: Path, flags: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "pyre.server",
            "http2_support:app",
            "--h2c",
            "--port",
            str(self.port),
        ]
        command += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log", *flags]
        environment = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=HERE, env=environment, stdout=log, stderr=log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pyre serve exited at startup: {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 2):
                return
            time.sleep(0.1)
        raise RuntimeError(f"pyre serve did not listen: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def rss(self) -> int:
        """Resident memory in bytes, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def pyre_h2(log_dir: Path, *flags: str) -> Iterator[PyreProcess]:
    server = PyreProcess(log_dir / f"pyre-h2-{free_port()}.log", flags)
    try:
        yield server
    finally:
        server.stop()


# --- the client --------------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the connection."""


class RawH2:
    """A prior-knowledge h2c connection that sends frames exactly as built."""

    def __init__(self, port: int, settings: dict[int, int] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), WAIT)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.buffer = b""
        self.port = port
        self.send_raw(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *frames: Frame) -> None:
        self.send_raw(b"".join(frame.serialize() for frame in frames))

    def headers(
        self,
        stream_id: int,
        path: str = "/",
        *,
        end_stream: bool = True,
        extra: Sequence[tuple[str, str]] = (),
    ) -> HeadersFrame:
        fields = [(":method", "GET"), (":scheme", "http"), (":authority", "t"), (":path", path), *extra]
        flags = {"END_HEADERS", *(["END_STREAM"] if end_stream else [])}
        return HeadersFrame(stream_id, self.encoder.encode(fields), flags=flags)

    def read_frame(self, within: float = WAIT) -> Frame:
        """The next frame; server SETTINGS are acknowledged. Raises ``Closed`` or ``TimeoutError``."""
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
                    self.buffer = self.buffer[9 + length :]
                    if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                        with contextlib.suppress(OSError):
                            self.send(SettingsFrame(0, flags=["ACK"]))
                    return frame
            self.sock.settimeout(within)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                raise
            except ConnectionError as error:
                raise Closed() from error
            if not data:
                raise Closed()
            self.buffer += data

    def frames(self, within: float = WAIT) -> Iterator[Frame]:
        """Frames until the server closes or ``within`` seconds pass with none."""
        with contextlib.suppress(Closed, TimeoutError):
            while True:
                yield self.read_frame(within)

    def goaway(self, within: float = WAIT) -> GoAwayFrame | None:
        """The GOAWAY the server sends before it closes (``None`` if it closes without one),
        skipping everything else; fails if the connection stays open for ``within`` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.read_frame(left)
            except Closed:
                return None
            if isinstance(frame, GoAwayFrame):
                return frame
        raise TimeoutError("the server kept the connection open")

    def response(self, stream_id: int, within: float = WAIT) -> tuple[dict[str, str], bytes]:
        """The head and body of ``stream_id``; other streams' frames are dropped."""
        head: dict[str, str] = {}
        body = b""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            frame = self.read_frame(left)
            if frame.stream_id != stream_id:
                continue
            if isinstance(frame, RstStreamFrame):
                raise AssertionError(f"stream {stream_id} reset with {frame.error_code}")
            if isinstance(frame, HeadersFrame):
                head.update((n.decode(), v.decode()) for n, v in self.decoder.decode(frame.data, raw=True))
            if isinstance(frame, DataFrame):
                body += frame.data
                if frame.data:
                    self.send(
                        WindowUpdateFrame(0, len(frame.data)), WindowUpdateFrame(stream_id, len(frame.data))
                    )
            if "END_STREAM" in frame.flags:
                return head, body
        raise TimeoutError(f"stream {stream_id} did not end")


def fresh_get(port: int, path: str = "/") -> tuple[dict[str, str], bytes]:
    """One GET on a new connection: the server still serves others."""
    client = RawH2(port)
    try:
        client.send(client.headers(1, path))
        return client.response(1)
    finally:
        client.close()


__all__ = [
    "Closed",
    "ContinuationFrame",
    "DataFrame",
    "GoAwayFrame",
    "HeadersFrame",
    "PingFrame",
    "PyreProcess",
    "RawH2",
    "RstStreamFrame",
    "SettingsFrame",
    "WindowUpdateFrame",
    "fresh_get",
    "pyre_h2",
]
