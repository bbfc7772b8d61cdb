"""Random and mutated requests over a real socket: the server answers sensibly or closes, never crashes."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.server import Config, Server
from pyre.spec import Request, Response

STATUSES = {100, 200, 400, 408, 413, 414, 417, 431, 500, 501, 505}
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")


async def app(request: Request) -> Response:
    body = await request.body.read()
    return Response(200, [(b"x-method", request.method.encode("latin-1"))], body[:100])


class BackgroundServer:
    """pyre-server on its own event loop in a thread, so that hypothesis can drive it with plain sockets."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        config = Config(
            port=0,
            access_log=False,
            timeout_header=1.0,
            timeout_body=1.0,
            timeout_keep_alive=1.0,
            timeout_drain=1.0,
            limit_body_size=4096,
        )
        self.server = Server(app, config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.port = self.server.port

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    background = BackgroundServer()
    yield background
    background.close()


def send(port: int, data: bytes) -> bytes:
    """Send ``data``, end the request stream, and read until the server closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may have closed already, having seen enough
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def check_responses(raw: bytes) -> None:
    """``raw`` is a sequence of well-formed responses, possibly cut short by a close."""
    while raw:
        match = STATUS_LINE.match(raw)
        assert match, f"not a status line: {raw[:80]!r}"
        assert int(match.group(1)) in STATUSES, raw[:80]
        head_end = raw.find(b"\r\n\r\n", match.end() - 2)
        assert head_end >= 0, raw[:200]
        head = raw[: head_end + 4]
        assert b"\r\n\r\n" not in head[:-4]
        raw = raw[head_end + 4 :]
        length = re.search(rb"\r\ncontent-length: (\d+)\r\n", head)
        if length and not raw.startswith(b"HTTP/1.1 "):
            raw = raw[int(length.group(1)) :]


def good_request_works(port: int) -> None:
    raw = send(port, b"GET / HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")


tokens = st.sampled_from(
    [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"get", b"X-Y", b"G@T", b"", b"CONNECT"]
)
targets = st.sampled_from(
    [b"/", b"/a?b=c", b"*", b"http://h/x", b"h:80", b"/%zz", b"/a b", b"", b"/\x00", b"/#f"]
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/1", b"http/1.1", b""])
field_names = st.sampled_from(
    [
        b"Host",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Connection",
        b"Expect",
        b"X-A",
        b"Host ",
        b"",
        b"T\x00E",
    ]
)
field_values = st.sampled_from(
    [b"x", b"3", b"-1", b"0", b"99999999999999999999", b"chunked", b"gzip, chunked", b"chunked, chunked",
     b"close", b"keep-alive", b"100-continue", b"a\rb", b" \t", b"\xff", b"3, 3"]
)  # fmt: skip
fields = st.lists(st.tuples(field_names, field_values), max_size=6)
bodies = st.sampled_from(
    [b"", b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"zz\r\n", b"0\r\nX: y\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"]
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    line = draw(tokens) + b" " + draw(targets) + b" " + draw(versions) + b"\r\n"
    head = line + b"".join(name + b": " + value + b"\r\n" for name, value in draw(fields)) + b"\r\n"
    return head + draw(bodies)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(requests()))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from([b"\r\n", b" ", b"\t", b":", b"\x00", b"\n", b"0"]))
        elif action == "delete":
            del data[at]
        else:
            del data[at:]
    return bytes(data)


pipelines = st.lists(st.one_of(requests(), mutated(), st.binary(max_size=200)), min_size=1, max_size=4).map(
    b"".join
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=pipelines)
def test_random_and_mutated_requests(server: BackgroundServer, data: bytes) -> None:
    check_responses(send(server.port, data))
    assert server.errors == []
    good_request_works(server.port)
