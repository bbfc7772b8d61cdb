"""Correctness before speed: each case's request sent for real, its answer checked.

A tiny blocking HTTP/1.1 client over a loopback socket, so that pipelined
requests and connection reuse are exercised exactly as wrk will exercise them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import BinaryIO

from .scenarios import Scenario
from .targets import HOST

TIMEOUT_SECONDS = 10.0


class WrongAnswer(Exception):
    """The server answered, but not what the case expects."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


def encode_request(scenario: Scenario) -> bytes:
    lines = [f"{scenario.method} {scenario.path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in scenario.request_headers()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + scenario.body


def read_reply(stream: BinaryIO) -> Reply:
    status_line = stream.readline()
    if not status_line:
        raise WrongAnswer("connection closed before a response")
    version, _, rest = status_line.partition(b" ")
    if version != b"HTTP/1.1":
        raise WrongAnswer(f"unexpected status line {status_line!r}")
    status = int(rest[:3])
    headers = []
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    reply = Reply(status, headers, b"")
    if (length := reply.header(b"content-length")) is not None:
        body = stream.read(int(length))
    elif (reply.header(b"transfer-encoding") or b"").lower() == b"chunked":
        body = read_chunked(stream)
    else:  # delimited by the server closing the connection (RFC 9112 section 6.3)
        body = stream.read()
    return Reply(status, headers, body)


def read_chunked(stream: BinaryIO) -> bytes:
    chunks = []
    while size := int(stream.readline().split(b";")[0], 16):
        chunks.append(stream.read(size))
        stream.readline()
    while stream.readline() not in (b"\r\n", b"\n", b""):
        pass
    return b"".join(chunks)


def check(scenario: Scenario, port: int, tls: bool = False) -> None:
    """Raise :class:`WrongAnswer` unless the server answers the case correctly.

    Keep-alive cases send the request twice on one connection; pipelined cases
    send the whole batch in one write; ``Connection: close`` cases also expect
    the server to close the connection after answering.  ``tls``: over TLS, trusting
    the TLS targets' CA.
    """
    request = encode_request(scenario)
    with _connect(port, tls) as sock:
        stream = sock.makefile("rb")
        if scenario.pipeline > 1:
            sock.sendall(request * scenario.pipeline)
            replies = [read_reply(stream) for _ in range(scenario.pipeline)]
        else:
            rounds = 1 if scenario.close else 2
            replies = []
            for _ in range(rounds):
                sock.sendall(request)
                replies.append(read_reply(stream))
        for number, reply in enumerate(replies, 1):
            expect_reply(scenario, reply, number)
        if scenario.close and stream.read(1) != b"":
            raise WrongAnswer("connection still open after `Connection: close`")


def check_http2(scenario: Scenario, port: int, tls: bool) -> None:
    """:func:`check` over HTTP/2: h2c by prior knowledge, or h2 by ALPN; twice on one connection."""
    import httpx  # the HTTP/2 targets' preflight says when it (or h2) is missing

    from .tls import client_context

    verify = client_context("h2") if tls else True
    url = f"{'https' if tls else 'http'}://{HOST}:{port}{scenario.path}"
    headers = [(name, value) for name, value in scenario.request_headers() if name != "Content-Length"]
    with httpx.Client(http1=False, http2=True, verify=verify, timeout=TIMEOUT_SECONDS) as client:
        for number in (1, 2):
            try:
                response = client.request(
                    scenario.method, url, headers=headers, content=scenario.body or None
                )
            except httpx.HTTPError as error:
                raise WrongAnswer(f"request {number}: {type(error).__name__}: {error}") from error
            if response.http_version != "HTTP/2":
                raise WrongAnswer(f"response {number} came over {response.http_version}, not HTTP/2")
            raw_headers = [(name.lower(), value) for name, value in response.headers.raw]
            expect_reply(scenario, Reply(response.status_code, raw_headers, response.content), number)


def _connect(port: int, tls: bool) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT_SECONDS)
    if not tls:
        return sock
    from .tls import client_context

    return client_context().wrap_socket(sock, server_hostname=HOST)


def expect_reply(scenario: Scenario, reply: Reply, number: int) -> None:
    where = f"response {number}"
    if reply.status != 200:
        raise WrongAnswer(f"{where}: status {reply.status}, body {reply.body[:80]!r}")
    if not scenario.body_matches(reply.body):
        raise WrongAnswer(
            f"{where}: body {reply.body[:80]!r} ({len(reply.body)} bytes) is not the expected one"
        )
    if scenario.json and b"application/json" not in (reply.header(b"content-type") or b""):
        raise WrongAnswer(f"{where}: content-type {reply.header(b'content-type')!r} is not JSON")
