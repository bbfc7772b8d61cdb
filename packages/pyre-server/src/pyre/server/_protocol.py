"""One HTTP/1.1 connection: parse requests, run the app, write responses (RFC 9112).

``HttpConnection`` is the asyncio protocol.  httptools calls its ``on_*``
methods while it tokenizes; the rules it does not enforce come from
``_http11``.  Requests are answered strictly in order (RFC 9112 section 9.3.2:
"A server MAY process a sequence of pipelined requests in parallel if they all
have safe methods, but it MUST send the corresponding responses in the same
order that the requests were received"): the next one starts only when the
previous response is complete, and requests parsed meanwhile wait in a queue.

While a batch of input is parsed (and while queued requests run one after the
other), responses collect in ``out`` and go to the socket in one write.

Where a connection is, and so which timeout applies to it:

==================  =======================  ===================
state               detected by              deadline
==================  =======================  ===================
idle                no request, no head      timeout_keep_alive
receiving a head    ``in_head``              timeout_header
app waits for body  ``body_wait``            timeout_body, and more
                                             for content received
                                             (limit_body_rate)
app running         ``current`` set          none
write buffer full   ``write_paused``         timeout_send (a
                                             clock of its own)
closing, lingering  ``read_closed``          LINGER_TIMEOUT
==================  =======================  ===================
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import os
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

from httptools import HttpParserError, HttpParserInvalidMethodError, HttpParserUpgrade

from pyre.spec import (
    ClientDisconnected,
    FileBody,
    RawHeaders,
    RequestBodyTooLarge,
    Response,
    ServerInfo,
    State,
    UpgradeHandler,
)

from . import _http11 as rules
from ._config import Config
from ._files import file_chunks
from ._http11 import Framing, Rejection
from ._parser import message_start, new_parser
from ._proxy import TrustedProxies
from ._request import (
    EMPTY_BODY,
    ForwardedHttpsRequest,
    ForwardedRequest,
    HttpBody,
    HttpRequest,
    HttpsRequest,
)
from ._response import (
    CONTINUE,
    LAST_CHUNK,
    InvalidResponse,
    as_status,
    chunk,
    date_line,
    declared_length,
    error_response,
    extra_header_line,
    field_lines,
    response_head,
    status_line,
)
from ._task import RequestTask
from ._tls import ServerTLS
from ._upgrade import UpgradeStream

logger = logging.getLogger("pyre.server")
access_logger = logging.getLogger("pyre.server.access")

App = Callable[[HttpRequest], Awaitable[Response]]

# Stop reading from a socket while this much request body waits for the app.
READ_HIGH_WATER: Final = 256 * 1024
# The transport's write buffer: past the high-water mark a streaming response waits
# (drain) until it is back under the low one.  Set explicitly, so that the bound on what
# a client that stops reading can pin does not depend on the event loop's defaults.
WRITE_HIGH_WATER: Final = 64 * 1024
WRITE_LOW_WATER: Final = 16 * 1024
# Stop reading while this many pipelined requests wait for their turn.
MAX_QUEUED_REQUESTS: Final = 16

# The special request fields: their values are collected for the checks in on_headers_complete.
_SPECIAL_FIELDS: Final = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"}
)
_NO_HOSTS: Final[list[bytes]] = []
_HASH: Final = ord("#")
_QUESTION_MARK: Final = ord("?")
_METHODS: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}

# What a head's raw bytes may have beyond limit_request_line and limit_header_size
# (which count field lines without their whitespace) before it is refused unfinished.
HEAD_SLACK: Final = 4096
# HttpConnection.head_at for a head that began in the batch being parsed, where is not known.
HEAD_BEGAN_HERE: Final = -2

# Closing the connection once the output batch is written: not, at once, or lingering.
NO_CLOSE, CLOSE, LINGER = range(3)
LINGER_TIMEOUT: Final = 2.0
# Draining: how long a connection accepted just before may take to begin its first request.
FIRST_REQUEST_GRACE: Final = 1.0
# limit_concurrency: at most one warning about refused requests in this many seconds.
BUSY_WARNING_INTERVAL: Final = 10.0
# Sent with every 503: seconds after which the client may retry.
RETRY_AFTER_LINE: Final = b"retry-after: 1\r\n"

# SO_LINGER on, with a zero timeout: closing the socket resets the connection.
_LINGER_OFF: Final = struct.pack("ii", 1, 0)


class Shared:
    """What every connection of one server shares."""

    def __init__(
        self,
        app: App,
        config: Config,
        loop: asyncio.AbstractEventLoop,
        info: ServerInfo,
        tls: ServerTLS | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.loop = loop
        self.info = info
        self.tls = tls
        # On TLS, requests say "https" and carry the session's pyre.tls data.
        self.request_type = HttpRequest if tls is None else HttpsRequest
        # Proxy headers: who is trusted, and what their requests are.
        self.proxies = TrustedProxies(config.forwarded_allow_ips) if config.proxy_headers else None
        self.forwarded_request_type = ForwardedRequest if tls is None else ForwardedHttpsRequest
        self.state: State = {}
        self.context = contextvars.copy_context()
        self.connections: set[HttpConnection] = set()
        # Connections whose write buffer is full, and when they time out (timeout_send).
        self.stalled: dict[HttpConnection, float] = {}
        # How much waiting one byte of request content pays for (limit_body_rate).
        self.seconds_per_body_byte = 1 / config.limit_body_rate if config.limit_body_rate else math.inf
        self.all_closed = asyncio.Event()
        self.draining = False
        self.requests = 0  # requests handed to the app so far
        # limit_concurrency: requests whose app (or response stream, or upgrade) runs.
        self.in_flight = 0
        self.concurrency_limit = config.limit_concurrency or sys.maxsize
        self.refused_busy = 0  # since the last warning about it
        self.busy_warning_due = 0.0
        # A header section under this size needs no closer look: one field over
        # limit_header_field_size makes the section (4 bytes a line) pass it too.
        field_limit = config.limit_header_field_size
        self.header_check = (
            config.limit_header_size
            if field_limit is None
            else min(config.limit_header_size, field_limit + 4)
        )
        self.now = loop.time()
        self.date = b""
        self.server_line = b"server: pyre\r\n" if config.server_header else b""
        # --header: the operator's fields, sent whatever the app sends.
        self.extra_lines = b"".join(extra_header_line(name, value) for name, value in config.headers)
        self._date_second = -1
        self.heads: dict[tuple[object, ...], tuple[bytes, bool, bool]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Called a few times a second: the clock for deadlines and the Date header."""
        self.now = self.loop.time()
        wall = time.time()
        if int(wall) != self._date_second:
            self._date_second = int(wall)
            self.date = date_line(wall) if self.config.date_header else b""
            self.heads.clear()
        for connection in [c for c in self.connections if 0.0 < c.deadline <= self.now]:
            connection.timed_out()
        if self.stalled:
            for connection in [c for c, deadline in self.stalled.items() if deadline <= self.now]:
                connection.send_timed_out()


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "shared",
        "config",
        "loop",
        "parser",
        "transport",
        "client",
        "local",
        "closed",
        "read_closed",
        "held",
        "rejection",
        "completed",
        "valid_host",
        "valid_authority",
        "misread",
        "method_override",
        "in_head",
        "url",
        "raw_headers",
        "special",
        "header_size",
        "parsed",
        "receiving",
        "current",
        "task",
        "queue",
        "out",
        "running_queue",
        "pending_close",
        "write_paused",
        "drain_waiter",
        "reading_paused",
        "body_wait",
        "deadline",
        "close_waiters",
        "stream",
        "access_log",
        "draining",
        "body_credit",
        "batch",
        "boundary",
        "message_end",
        "head_at",
        "head_tail",
        "line_part",
        "pending_cr",
        "chunked",
        "lingering",
        "head_seen",
        "header_check",
        "request_type",
        "tls_extensions",
    )

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.config = shared.config
        self.loop = shared.loop
        self.parser = new_parser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.closed = False
        self.read_closed = False
        self.held: bytearray | None = None
        self.rejection: Rejection | None = None
        self.completed = 0
        self.valid_host = b""
        self.valid_authority = ""
        self.misread = False
        self.method_override: bytes | None = None
        self.in_head = False
        self.url = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.special: dict[bytes, list[bytes]] = {}
        self.header_size = 0
        self.parsed: HttpRequest | None = None
        self.receiving: HttpRequest | None = None
        self.current: HttpRequest | None = None
        self.task: RequestTask | None = None
        self.queue: deque[HttpRequest | Rejection] = deque()
        self.out: list[bytes] | None = None
        self.running_queue = False
        self.pending_close = NO_CLOSE
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.body_wait = False
        self.deadline = 0.0
        self.close_waiters: list[asyncio.Future[None]] | None = None
        self.stream: UpgradeStream | None = None
        self.access_log = shared.config.access_log
        self.draining = False
        self.body_credit = 0.0
        # Where llhttp is in the raw bytes, as far as known: what it is lenient about
        # (spaces in the request line, bare CR or LF before it, chunk lines) is checked
        # on the bytes themselves.  Offsets are into ``batch``, the data being parsed;
        # -1 is unknown.
        self.batch = b""
        self.boundary = -1  # a message may begin here
        self.message_end = -1  # the message being parsed ends here
        self.head_at = -1  # its request line starts here
        self.head_tail = b""  # the last bytes of the batch before, while a head spans them
        self.line_part: bytes | None = None  # the request line so far, while it spans batches
        self.pending_cr = False  # the bytes before a request line so far end in CR
        self.chunked: rules.ChunkedScan | None = None
        self.lingering = False
        self.head_seen = 0  # bytes of a head that spans batches, so far
        self.header_check = shared.header_check
        self.request_type = shared.request_type
        self.tls_extensions: Mapping[str, object] | None = None  # the same for each request

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self.client = _address(transport.get_extra_info("peername"))
        self.local = _address(transport.get_extra_info("sockname"))
        proxies = self.shared.proxies
        if proxies is not None and proxies.trusts_peer(self.client, _family(transport)):
            self.request_type = self.shared.forwarded_request_type
        tls = self.shared.tls
        if tls is not None:  # on TLS, this is called once the handshake is done
            self.tls_extensions = tls.session_extensions(transport.get_extra_info("ssl_object"))
        self.shared.connections.add(self)
        self.deadline = self.shared.now + self.config.timeout_keep_alive
        if self.shared.draining:  # accepted just before the listener closed
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        held = self.held
        if held is not None:  # the connection switched protocols, or may be about to
            held += data
            if self.stream is not None:
                self.stream.wake()
            self._update_reading()
            return
        if self.read_closed:
            return  # RFC 9112 section 9.6: nothing after "close" is processed
        out: list[bytes] = []
        self.out = out
        rest = self._feed(data, False)
        while rest is not None:  # llhttp refused a head the RFC allows: parse its repaired form
            rest = self._feed(rest, True)
        self.out = None
        if out or self.pending_close:
            self._flush(out)
        if self.held is not None and self.current is None:
            self._resume_parsing()
        if self.reading_paused or self.queue or self.held is not None or self.receiving is not None:
            self._update_reading()

    def eof_received(self) -> bool:
        if self.stream is None:
            return False
        self.stream.eof = True  # read() returns b"" while write() still works
        self.stream.wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.read_closed = True
        self.deadline = 0.0
        self.shared.connections.discard(self)
        self.shared.stalled.pop(self, None)
        if not self.shared.connections:
            self.shared.all_closed.set()
        self.queue.clear()
        for request in (self.receiving, self.current):
            if request is not None and isinstance(request.body, HttpBody):
                request.body.fail(ClientDisconnected())
        self._wake_writer()
        if self.stream is not None:
            self.stream.wake()
        for waiter in self.close_waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        self.close_waiters = None
        # The parser calls back into this connection, a reference cycle that only the
        # cyclic collector would free; with a new connection per request that costs
        # about 6% of the server's time (benchmarks, new-connection).
        del self.parser

    def pause_writing(self) -> None:
        self.write_paused = True
        self.shared.stalled[self] = self.shared.now + self.config.timeout_send

    def resume_writing(self) -> None:
        self.write_paused = False
        self.shared.stalled.pop(self, None)
        self._wake_writer()

    def _feed(self, data: bytes, repaired: bool) -> bytes | None:
        """Parse ``data``; if llhttp refuses a head the RFC allows, what to parse instead."""
        at_boundary = not self.in_head and self.receiving is None
        self.completed = 0
        self.batch = data
        if at_boundary and not self.pending_cr:  # the common case: a message starts here
            self.boundary = 0
        else:
            try:
                self._screen(data, at_boundary)
            except Rejection as rejection:
                self.rejection = rejection
                self._parse_failed(None)
                return None
        try:
            self.parser.feed_data(data)
            if self.in_head:  # a head goes on in the next batch
                head_at = self.head_at
                if head_at >= 0:
                    self.head_tail = data[max(head_at, len(data) - 3) :]  # where its end may begin
                    self.head_seen = len(data) - head_at
                elif head_at == HEAD_BEGAN_HERE:  # at an offset not known: counted from the next
                    self.head_tail = data[-3:]
                    self.head_seen = 0
                else:
                    self.head_tail = (self.head_tail + data)[-3:]
                    self.head_seen += len(data)
                # llhttp holds a field line until it ends: bound the head while it arrives.
                config = self.config
                if self.head_seen > config.limit_request_line + config.limit_header_size + HEAD_SLACK:
                    raise self._reject(431, "header section too large")
            elif 0 <= self.boundary < len(data) and self.receiving is None and not self.read_closed:
                # What follows the last message: empty lines before the next one.
                self.pending_cr = rules.check_leading_lines(data[self.boundary :])
        except Rejection as rejection:
            self.rejection = rejection
            self._parse_failed(None)
        except HttpParserUpgrade as upgrade:
            # The request asked to switch protocols (or was CONNECT): what follows
            # is either the new protocol or, if the app declines, the next request.
            rest = data[upgrade.args[0] :]
            if self.held is None:
                self.held = bytearray(rest)
            else:  # the app has switched protocols already, from inside the parser callback
                self.held += rest
            if self.stream is not None:
                self.stream.wake()
        except HttpParserError as error:
            first_message = self.completed == 0
            self.misread = False
            if self.rejection is None and self.in_head and at_boundary and not (repaired and first_message):
                canonical = self._repaired(data)
                if canonical is not None:
                    return canonical
            self._parse_failed(error)
        finally:
            self.batch = b""
        return None

    def _screen(self, data: bytes, at_boundary: bool) -> None:
        """Before ``data`` is parsed, unless it starts a message: where in it llhttp
        is, and what of it is known bad."""
        self.message_end = -1
        self.head_at = -1  # offsets are into this batch: a head begun before has none
        boundary = -1
        if at_boundary:
            boundary = 0
            if self.pending_cr:  # the CR that ended the last batch must start a CRLF
                self.pending_cr = False
                if data[:1] != b"\n":
                    raise Rejection(400, "bare CR or LF before the request line")
                boundary = 1
        elif self.receiving is not None and not self.in_head:  # within a body
            body = self.receiving.body
            assert isinstance(body, HttpBody)
            if body.length is not None:
                self.message_end = body.length - body.received
            elif self.chunked is not None:
                self.message_end = self.chunked.scan(data, 0)
        self.boundary = boundary
        part = self.line_part
        if part is not None:  # a request line began in an earlier batch
            found = data.find(b"\r\n")
            if part.endswith(b"\r") and data[:1] == b"\n":
                found = 0
            line = part + data[: max(found, 0)] if found >= 0 else part + data
            if b"  " in line:
                raise Rejection(400, "malformed request line")
            if found >= 0 or len(line) > self.config.limit_request_line + 64:
                self.line_part = None  # complete; or too long for one, and on_url answers 414
            else:
                self.line_part = line

    def _frame(self, request: HttpRequest) -> None:
        """Where the message whose head just ended ends; a chunked body is followed."""
        data = self.batch
        if self.head_at >= 0:
            head_end = data.find(b"\r\n\r\n", self.head_at) + 4
        elif self.head_at == HEAD_BEGAN_HERE:  # after bytes not followed: nothing known
            self.message_end = -1
            return
        else:  # the head began in an earlier batch
            tail = self.head_tail
            found = (tail + data[:3]).find(b"\r\n\r\n")
            if found >= 0:
                head_end = found + 4 - len(tail)
            else:
                found = data.find(b"\r\n\r\n")
                if found < 0:  # cannot be, as llhttp has just ended the head; follow no further
                    self.message_end = -1
                    return
                head_end = found + 4
        body = request.body
        if not isinstance(body, HttpBody):
            self.message_end = head_end
        elif body.length is not None:
            self.message_end = head_end + body.length
        else:
            self.chunked = rules.ChunkedScan(self.config.limit_header_size + HEAD_SLACK)
            self.message_end = self.chunked.scan(data, head_end)

    def _repaired(self, data: bytes) -> bytes | None:
        """The failed message onwards, its head rewritten per ``rules.canonical_head``."""
        start = message_start(data, self.completed)
        while data.startswith(b"\r\n", start):
            start += 2
        end = data.find(b"\r\n\r\n", start)
        if end < 0:
            return None
        try:
            canonical = rules.canonical_head(data[start:end])
        except Rejection as rejection:
            self.rejection = rejection
            return None
        if canonical is None:
            return None
        self.method_override, head = canonical
        self.parser = new_parser(self)
        self.in_head = False
        return head + data[end + 4 :]

    # httptools callbacks: one request message, RFC 9112 sections 2-7

    def on_message_begin(self) -> None:
        if self.read_closed or self.draining:
            if self.draining and not self.read_closed:
                # RFC 9110 section 15.6.4: 503, the server is going away; it comes
                # after the response in progress, which therefore keeps the
                # connection open for it.
                raise self._reject(503, "the server is shutting down")
            raise ConnectionAbortedError  # the connection is closing: stop the parser here
        pos = self.boundary
        if pos >= 0:  # where the message starts in the batch is known: check its request line
            data = self.batch
            first = data[pos]
            if first == 13 or first == 10:
                while data.startswith(b"\r\n", pos):  # RFC 9112 section 2.2: empty lines first
                    pos += 2
                if data[pos] == 13 or data[pos] == 10:  # llhttp skips a bare CR or LF too
                    raise self._reject(400, "bare CR or LF before the request line")
            self.head_at = pos
            end = data.find(b"\r\n", pos)
            # RFC 9112 section 3: request-line = method SP request-target SP HTTP-version.
            # llhttp takes a run of spaces for each SP, which a recipient splitting on
            # single spaces (h11) reads as another target or version.
            if end < 0:
                self.line_part = data[pos:]
            elif data.find(b"  ", pos, end) >= 0:
                raise self._reject(400, "malformed request line")
            self.boundary = -1
        else:
            self.head_at = HEAD_BEGAN_HERE
        self.in_head = True
        self.url = b""
        self.raw_headers = []
        self.special = {}
        self.header_size = 0
        if self.current is None:
            self.deadline = self.shared.now + self.config.timeout_header

    def on_url(self, url: bytes) -> None:
        url = self.url + url if self.url else url
        if len(url) > self.config.limit_request_line:
            # RFC 9112 section 3: "A server that receives a request-target longer than
            # any URI it wishes to parse MUST respond with a 414 (URI Too Long)".
            raise self._reject(414, "request-target too long")
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        # RFC 9112 section 5.1: the field value excludes trailing whitespace (OWS).
        if value and value[-1] in b" \t":
            if value[-1] == 9 and name.lower() == b"transfer-encoding":
                self.misread = True  # llhttp takes "chunked<HTAB>" for another coding
            value = value.rstrip(b" \t")
        size = self.header_size = self.header_size + len(name) + len(value) + 4
        if not self.in_head:
            self._trailer(name, value)
            return
        raw_headers = self.raw_headers
        raw_headers.append((name, value))
        config = self.config
        # RFC 6585 section 5: 431 when "the request's HTTP header fields are too large".
        if size > self.header_check:  # the section, or with it perhaps this one field
            self._check_header_size(size, name, value)
        if len(raw_headers) > config.limit_header_count:
            raise self._reject(431, "too many header fields")
        lowered = name.lower()
        if lowered in _SPECIAL_FIELDS:
            self.special.setdefault(lowered, []).append(value)

    def _check_header_size(self, size: int, name: bytes, value: bytes) -> None:
        config = self.config
        if size > config.limit_header_size:
            raise self._reject(431, "header section too large")
        limit = config.limit_header_field_size
        if limit is not None and len(name) + len(value) > limit:
            raise self._reject(431, "header field too large")

    def _trailer(self, name: bytes, value: bytes) -> None:
        if self.header_size > self.config.limit_header_size:
            raise self._reject(431, "trailer section too large")
        request = self.receiving
        if request is not None and isinstance(request.body, HttpBody):
            request.body.add_trailer(name, value)

    def on_headers_complete(self) -> None:
        if self.misread:
            raise ValueError("head to be re-parsed")
        self.in_head = False
        try:
            request = self._request()
            if request.body is EMPTY_BODY and self.head_at >= 0:  # the common case, inline
                self.message_end = self.batch.find(b"\r\n\r\n", self.head_at) + 4
            else:
                self._frame(request)
        except Rejection as rejection:
            self.rejection = rejection
            raise
        self.parsed = request
        if self.current is None:
            self._start(request)
        else:
            self.queue.append(request)

    def _request(self) -> HttpRequest:
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            version = rules.check_version(version)
        method_bytes = self.method_override or parser.get_method()
        self.method_override = None
        method = _METHODS.get(method_bytes) or method_bytes.decode("ascii")
        target = self.url
        authority: str | None
        # Origin-form, by far the most common.  (Membership tests take the byte as an
        # int: with a bytes needle CPython's ``in`` is several times slower.)
        if target[:1] == b"/" and _HASH not in target:
            if _QUESTION_MARK in target:
                raw_path, _, query = target.partition(b"?")
            else:
                raw_path, query = target, b""
            authority = None
        else:
            raw_path, query, target_authority = rules.split_target(method, target)
            authority = target_authority.decode("latin-1") if target_authority is not None else None
        special = self.special
        hosts = special.pop(b"host", _NO_HOSTS)
        if len(hosts) != 1 or hosts[0] != self.valid_host:
            rules.check_host(version, hosts)
            if hosts:  # clients send the same Host on every request: checked and decoded once
                self.valid_host = hosts[0]
                self.valid_authority = hosts[0].decode("latin-1")
        if authority is None and hosts:
            authority = self.valid_authority
        if not special:  # no Connection, framing or Expect fields: the common case
            keep_alive = rules.request_keep_alive(version, method, None)
            return self.request_type(
                self, method, target, version, raw_path, query, authority, self.raw_headers, keep_alive
            )
        options = special.get(b"connection")
        keep_alive = rules.request_keep_alive(
            version, method, rules.connection_options(options) if options else None
        )
        request = self.request_type(
            self, method, target, version, raw_path, query, authority, self.raw_headers, keep_alive
        )
        # RFC 9110 section 7.8: Upgrade, listed in Connection, on an HTTP/1.1 request.
        request.upgrade_requested = method != "CONNECT" and parser.should_upgrade()
        transfer_encoding = special.get(b"transfer-encoding")
        length: int | None
        if transfer_encoding:
            rules.check_transfer_encoding(version, transfer_encoding)
            length = None
        elif b"content-length" in special:
            length = rules.parse_content_length(special[b"content-length"][0])
            if length > self.config.limit_body_size:
                raise Rejection(413, "request body too large")
            if length == 0:
                return request
        else:
            # RFC 9112 section 6.3: "If this is a request message and none of the above
            # are true, then the message body length is zero".
            return request
        request.expects_continue = rules.expects_continue(version, special.get(b"expect", []))
        request.body = HttpBody(self, length)
        self.body_credit = self.config.timeout_body
        self.receiving = request
        return request

    def on_body(self, data: bytes) -> None:
        request = self.receiving
        if request is None or not isinstance(request.body, HttpBody):
            return
        body = request.body
        body.feed(data, self.config.limit_body_size)
        # Content pays for time spent waiting on it, at limit_body_rate, up to
        # timeout_body banked: a trickle runs out, a steady slow client does not.
        paid = len(data) * self.shared.seconds_per_body_byte
        if self.body_wait or self.current is None:  # a body deadline is running: extend it
            if self.deadline:
                self.deadline = min(self.deadline + paid, self.shared.now + self.config.timeout_body)
        else:
            self.body_credit = min(self.body_credit + paid, self.config.timeout_body)
        if body.error is not None:
            # Content over the limit: whatever the app answers, the connection closes after it.
            request.keep_alive = False
            if body.discarding or request.response_started:
                self._close()
            else:
                self._pause_reading()
        elif body.buffered > READ_HIGH_WATER:
            self._pause_reading()

    def on_message_complete(self) -> None:
        self.completed += 1
        self.boundary = self.message_end  # (set for every message by _frame or _screen)
        request = self.receiving
        if request is not None:
            self.receiving = None
            # RFC 9110 section 10.1.1: "A server MAY omit sending a 100 (Continue)
            # response if it has already received some or all of the content".
            request.expects_continue = False
            if isinstance(request.body, HttpBody):
                request.body.end()
        parsed = self.parsed
        if parsed is not None:
            self.parsed = None  # the request refers back to this connection: no cycle left behind
            if not parsed.keep_alive:
                self.read_closed = True

    def _reject(self, status: int, reason: str) -> Rejection:
        self.rejection = Rejection(status, reason)
        return self.rejection

    def _parse_failed(self, error: HttpParserError | None) -> None:
        rejection = self.rejection
        if rejection is None:
            if self.read_closed:
                return  # bytes after a "Connection: close" request are ignored, not answered
            assert error is not None  # a check of this server's own sets self.rejection
            reason = (
                "malformed request line" if isinstance(error, HttpParserInvalidMethodError) else str(error)
            )
            rejection = Rejection(rules.status_for_parser_error(str(error)), reason)
        self.rejection = None
        self.read_closed = True
        self.in_head = False
        self.deadline = 0.0
        receiving = self.receiving
        if receiving is not None:
            # Malformed content: the request it belongs to cannot be answered normally.
            self.receiving = None
            if isinstance(receiving.body, HttpBody):
                receiving.body.fail(ClientDisconnected())
            if receiving.response_started:  # answered already; nothing more can be said
                self._close(linger=True)
                return
            if receiving is self.current:
                receiving.response_started = True
                receiving.status = rejection.status  # for the access log, once the app returns
                self._write(self._error(rejection.status, rejection.reason))
                self._close(linger=True)
                return
            self.queue = deque(item for item in self.queue if item is not receiving)
        if self.current is None:
            self._write(self._error(rejection.status, rejection.reason))
            self._close(linger=True)
        else:
            self.queue.append(rejection)

    # Running the app

    def _start(self, request: HttpRequest) -> None:
        shared = self.shared
        if shared.in_flight >= shared.concurrency_limit:
            self._refuse_busy(request)
            return
        shared.in_flight += 1
        shared.requests += 1  # limit_max_requests: the server's tick compares
        self.current = request
        self.deadline = 0.0
        task = self.task = RequestTask(self.loop, shared.context.copy(), self._app_returned)
        task.run(shared.app, request)

    def _refuse_busy(self, request: HttpRequest) -> None:
        """limit_concurrency reached: 503, and the connection closes, so that no content
        still to come is taken for a request; the app never sees this one."""
        request.response_started = True
        request.status = 503
        self._write(self._error(503, "too many requests in progress"))
        self._close()
        if self.access_log:
            self._log_access(request)
        shared = self.shared
        shared.refused_busy += 1
        if shared.now >= shared.busy_warning_due:
            logger.warning(
                "limit_concurrency: %d requests in progress; %d more refused with 503 since the last warning",
                shared.in_flight,
                shared.refused_busy,
            )
            shared.refused_busy = 0
            shared.busy_warning_due = shared.now + BUSY_WARNING_INTERVAL

    def _app_returned(self, task: RequestTask, response: Any, error: BaseException | None) -> None:
        request = self.current
        assert request is not None
        if request.response_started:  # the server answered already (malformed body, timeout)
            self._log_error(request, error)
            if self.access_log:
                self._log_access(request)
            self._done()
            return
        if error is None:
            # The one guard around turning the app's answer into bytes: the answer's
            # shape is checked where it is used, and whatever is wrong with it, or
            # raised by its own attributes, becomes a logged 500 here.  (A try costs
            # nothing until something raises.)
            try:
                keep_alive = self._respond(request, response, task)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as failure:  # a CancelledError from an attribute, too
                error = failure
            else:
                if keep_alive is not None:
                    self._finished(request, keep_alive)
                return
        self._app_failed(request, error)

    def _app_failed(self, request: HttpRequest, error: BaseException) -> None:
        """Before the response started: 413 or 500.  After: cut the response short."""
        if self.closed:  # the client has gone: there is no one to answer
            self._log_error(request, error)
            self._done()
            return
        if request.response_started:
            self._log_error(request, error)
            if self.access_log:
                self._log_access(request, aborted=True)
            # Pyre spec PYRE-ERR-2: what was written goes out, then the connection is
            # closed, short of the last chunk or of the content-length; nothing after
            # it is answered.  (A close-delimited response is reset in _send_content.)
            self._close()
            self._done()
            return
        request.response_started = True
        if isinstance(error, RequestBodyTooLarge):
            request.status = 413
            self._write(self._error(413, "request body too large"))
        else:
            self._log_error(request, error)
            request.status = 500
            self._write(self._error(500, "the application failed"))
        self._close()
        self._finished(request, False)

    def _log_error(self, request: HttpRequest, error: BaseException | None) -> None:
        if error is None or isinstance(error, ClientDisconnected | asyncio.CancelledError):
            return
        answering = f"{request.method} {request.target.decode('latin-1')}"
        if isinstance(error, InvalidResponse):  # the message says it all; the traceback is the server's
            logger.error("Invalid response from the application to %s: %s", answering, error)
        else:
            logger.error("Exception in application answering %s", answering, exc_info=error)

    def _respond(self, request: HttpRequest, response: Response, task: RequestTask) -> bool | None:
        """Write a complete response and say whether to keep the connection; None if it goes on."""
        if not isinstance(response, Response):
            raise InvalidResponse(f"the application returned {response!r:.100}, not a pyre.spec.Response")
        status = response.status
        if status == 101 or response.upgrade is not None:
            self._switch_protocols(request, response, status, task)
            return None
        body = response.body
        if type(body) is not bytes or response.trailers is not None:
            # The stream runs now until it first waits; what it writes until then goes out
            # in one write, and a failure before then finds nothing sent (_send_content).
            # It checks the status itself: whatever is wrong, it releases the body.
            batching = self.out is None
            if batching:
                self.out = []
            task.continue_with(self._stream(request, response), self._streamed)
            if batching:
                out, self.out = self.out, None
                self._flush(out or [])
            return None
        if type(status) is not int:
            status = as_status(status)
        # A complete response's head is remembered until the Date changes: apps send
        # the same few heads again and again.  Status and header section are checked
        # in _head, so a head in the cache is a valid one.  The key holds all that the
        # framing and keep-alive decisions depend on, so a hit skips them too.
        headers = response.headers
        shared = self.shared
        key: tuple[object, ...] | None
        try:
            key = (
                status,
                tuple(headers),
                len(body),
                request.method,
                request.keep_alive,
                request.expects_continue,
                request.http_version,
            )
            cached = shared.heads.get(key)
        except TypeError:  # not iterable, or unhashable: _head says what is wrong
            key = cached = None
        if cached is None or shared.draining:
            framing = rules.response_framing(request.method, status, request.http_version, len(body), False)
            head, keep_alive = self._head(request, status, headers, len(body), framing)
            cached = (head, keep_alive, framing == Framing.FIXED)
            if key is not None and len(shared.heads) < 512:
                shared.heads[key] = cached
        head, keep_alive, with_content = cached
        request.response_started = True
        request.status = status
        data = head + body if with_content else head
        out = self.out
        if out is not None:  # the common case: answered while its input is parsed
            out.append(data)
        else:
            self._write(data)
        return keep_alive

    def _switch_protocols(
        self, request: HttpRequest, response: Response, status: int, task: RequestTask
    ) -> None:
        """RFC 9110 section 15.2.2: 101, then the connection belongs to ``response.upgrade``."""
        handler = response.upgrade
        if status != 101 or handler is None:
            raise InvalidResponse("101 and an upgrade handler go together")
        if not request.upgrade_requested:
            raise InvalidResponse("101 for a request that did not ask to upgrade")
        head, _ = self._head(request, 101, response.headers, None, Framing.SWITCH)
        request.response_started = True
        request.status = 101
        request.keep_alive = False
        self._write(head)
        if self.held is None:
            self.held = bytearray()  # from here on, bytes from the client are for the new protocol
        self.stream = UpgradeStream(self)
        task.continue_with(_run_upgrade(handler, self.stream), self._upgrade_ended)

    def _upgrade_ended(self, task: RequestTask, result: Any, error: BaseException | None) -> None:
        request = self.current
        assert request is not None
        self._log_error(request, error)
        self._finished(request, False)

    def _head(
        self, request: HttpRequest, status: int, headers: RawHeaders, length: int | None, framing: Framing
    ) -> tuple[bytes, bool]:
        """The status line and header section; whether the connection stays open after."""
        shared = self.shared
        head, keep_alive, declared = response_head(
            status,
            headers,
            length,
            framing,
            (
                request.method,
                request.http_version,
                request.keep_alive,
                request.expects_continue,
                # Draining: close after this response, unless 503s for requests behind it follow.
                shared.draining and not self.queue,
            ),
            (shared.date, shared.server_line, shared.extra_lines),
        )
        # Pyre spec PYRE-FRAME-3: the server sends the true length of content it knows
        # (a HEAD or 304 response may give the length of a GET: no content to compare).
        # Heads are cached, so this is said about once a second per distinct head.
        if declared is not None and framing == Framing.FIXED and declared != length:
            logger.warning(
                "The response to %s %s declares content-length %d but has %d bytes; sent with %d",
                request.method,
                request.target.decode("latin-1"),
                declared,
                length,
                length,
            )
        return head, keep_alive

    async def _stream(self, request: HttpRequest, response: Response) -> bool:
        """Send content that is not a plain ``bytes`` (or comes with trailers)."""
        body = response.body
        try:  # checked before a file is opened
            status = response.status
            if type(status) is not int:
                status = as_status(status)
            headers = response.headers
            declared = declared_length(headers)
            trailers = response.trailers
            if trailers is not None and not callable(trailers):
                raise InvalidResponse(f"trailers {trailers!r:.100} is not callable")
        except BaseException:
            # Pyre spec PYRE-RESP-19 and PYRE-ERR-4: a body that will never be sent still
            # gives back what it holds: the app's descriptor, an async iterator's frame.
            await _release(body)
            raise
        chunks: AsyncIterator[bytes]
        length: int | None
        if isinstance(body, bytes):
            chunks, length = _single(body), len(body)
        elif isinstance(body, FileBody):
            chunks, length = await file_chunks(self.loop, body)
        elif hasattr(body, "__aiter__"):
            chunks, length = aiter(body), declared
        else:
            raise InvalidResponse(f"body {body!r:.100} is not bytes, a FileBody or an async iterable")
        try:
            version = request.http_version
            with_trailers = trailers is not None and declared is None
            framing = rules.response_framing(request.method, status, version, length, with_trailers)
            head, keep_alive = self._head(request, status, headers, length, framing)
            request.status = status
            request.response_started = True
            self._write(head)  # goes out when the stream first waits: _respond batches until then
            if framing == Framing.NO_CONTENT:
                return keep_alive
            await self._send_content(request, chunks, framing, length, head)
            if framing == Framing.CHUNKED:
                # RFC 9112 section 7.1: last-chunk, then the trailer section, then CRLF.
                # Pyre spec PYRE-RESP-15: trailers are asked for only when they can be sent.
                if trailers is None:
                    self._write(LAST_CHUNK)
                else:
                    self._write(b"0\r\n" + field_lines(await trailers()) + b"\r\n")
            return keep_alive
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def _send_content(
        self,
        request: HttpRequest,
        chunks: AsyncIterator[bytes],
        framing: Framing,
        length: int | None,
        head: bytes,
    ) -> None:
        batch = self.out
        sent = 0
        try:
            async for data in chunks:
                if type(data) is not bytes and not isinstance(data, bytes):
                    raise InvalidResponse(f"the response body yielded {data!r:.100}, not bytes")
                if not data:
                    continue
                sent += len(data)
                if framing == Framing.FIXED and length is not None and sent > length:
                    raise InvalidResponse("response content is longer than its content-length")
                await self.drain()
                self._write(chunk(data) if framing == Framing.CHUNKED else data)
            if framing == Framing.FIXED and sent != length:
                raise InvalidResponse("response content is shorter than its content-length")
        except Exception:
            if batch is not None and self.out is batch and batch and batch[-1] is head:
                # Nothing has left yet, not even the head: take it back, and the failure
                # is answered 500 as one before the response started.
                batch.pop()
                request.response_started = False
            elif framing == Framing.UNTIL_CLOSE:
                self._reset()  # a close would tell the client the content is complete
            raise

    def _streamed(self, task: RequestTask, keep_alive: Any, error: BaseException | None) -> None:
        request = self.current
        assert request is not None
        if error is not None:
            self._app_failed(request, error)
        else:
            self._finished(request, keep_alive)

    # After a response

    def _finished(self, request: HttpRequest, keep_alive: bool) -> None:
        if self.access_log:
            self._log_access(request)
        if not keep_alive or self.closed:
            self._close()
            self._done()
            return
        if self.receiving is request:  # its content is still arriving: skip it
            body = request.body
            assert isinstance(body, HttpBody)
            body.discard()
        self._done()

    def _done(self) -> None:
        self.shared.in_flight -= 1
        self.current = None
        self.task = None
        if self.held is not None and not self.closed and not self.read_closed:
            self._resume_parsing()
        if self.queue or self.closed or self.read_closed:
            self._run_queue()
        elif self.in_head or self.receiving is not None or self.reading_paused:
            self._idle()
        else:  # the common case, inline: wait for the next request
            self.deadline = self.shared.now + self.config.timeout_keep_alive

    def _run_queue(self) -> None:
        if self.running_queue:
            return
        self.running_queue = True
        batching = self.out is None
        if batching:
            self.out = []
        try:
            if self.draining and self.current is None:
                self._refuse_queue()
            while self.current is None and self.queue and not self.closed:
                item = self.queue.popleft()
                if isinstance(item, Rejection):
                    self._write(self._error(item.status, item.reason))
                    self._close()
                    break
                self._start(item)
        finally:
            self.running_queue = False
        if batching:
            out, self.out = self.out, None
            self._flush(out or [])
        if self.current is None and not self.closed:
            if self.read_closed and self.receiving is None:
                self._close()
            else:
                self._idle()
        self._update_reading()

    def _refuse_queue(self) -> None:
        """Shutting down: each request waiting its turn is answered 503 instead of run."""
        queue = self.queue
        while queue and not self.closed:
            item = queue.popleft()
            if isinstance(item, Rejection):
                self._write(self._error(item.status, item.reason))
                break
            item.response_started = True
            item.status = 503
            # Only the last answer says close: the client reads every one before it.
            self._write(self._error(503, "the server is shutting down", close=not queue))
            target = item.target.decode("latin-1")
            logger.info("Refused %s %s: the server is shutting down", item.method, target)
            if self.access_log:
                self._log_access(item)
        self._close()

    def _idle(self) -> None:
        """No request is being answered: which timeout runs now."""
        if self.in_head:
            self.deadline = self.shared.now + self.config.timeout_header
        elif self.receiving is not None:  # content of an answered request, being skipped
            self.deadline = self.shared.now + self.config.timeout_body
        else:
            self.deadline = self.shared.now + self.config.timeout_keep_alive
        if self.reading_paused:
            self._update_reading()

    def _resume_parsing(self) -> None:
        """The app declined an Upgrade: parse what followed as the next requests.

        Soon rather than now, so as not to parse inside a batch of output; bytes
        arriving meanwhile are appended to ``held`` and keep their order.
        """
        self.loop.call_soon(self._parse_held)

    def _parse_held(self) -> None:
        held, self.held = self.held, None
        if held is None or self.closed or self.read_closed:
            return
        self.parser = new_parser(self)
        if held:
            self.data_received(bytes(held))

    def _log_access(self, request: HttpRequest, aborted: bool = False) -> None:
        client = request.client  # behind a trusted proxy, the one it forwarded for
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d (aborted)' if aborted else '%s - "%s %s HTTP/%s" %d',
            f"{client[0]}:{client[1]}" if client else "-",
            request.method,
            request.target.decode("latin-1"),
            request.http_version,
            request.status,
        )

    # Output

    def _write(self, data: bytes) -> None:
        out = self.out
        if out is not None:
            out.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush(self, out: list[bytes]) -> None:
        transport = self.transport
        assert transport is not None
        if out and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.pending_close:
            self._shut(self.pending_close == LINGER)
            self.pending_close = NO_CLOSE

    def _close(self, linger: bool = False) -> None:
        """Close once what is already written has gone out.

        RFC 9112 section 9.6: a server closing while the client may still be sending
        should "close the write side ... and continue to read from the connection
        until it receives a corresponding close by the client, or until the server
        is reasonably certain that its own TCP stack has received the client's
        acknowledgement of the packet(s) containing the server's last response".
        Closing at once would make the kernel answer the unread data with a reset
        that can destroy the response before the client reads it.
        """
        self.read_closed = True
        # RFC 9112 section 9.6: "A server that sends a "close" connection option MUST
        # NOT process any further requests received on that connection".
        self.queue.clear()
        if self.receiving is not None:
            linger = True
            self.receiving = None  # whatever else arrives is discarded
        if self.out is not None:
            self.pending_close = max(self.pending_close, LINGER if linger else CLOSE)
        else:
            self._shut(linger)

    def _shut(self, linger: bool) -> None:
        transport = self.transport
        if transport is None or self.closed or self.lingering:
            return  # a lingering close ends at its own deadline, even if the app finishes first
        if linger and transport.can_write_eof():
            self.lingering = True
            transport.write_eof()
            if self.reading_paused:
                self.reading_paused = False
                transport.resume_reading()
            self.deadline = self.shared.now + LINGER_TIMEOUT
        else:
            transport.close()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _reset(self) -> None:
        """Abort with a TCP reset (RFC 9293 section 3.6): a plain close would end the content."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
        transport.abort()

    def _error(self, status: int, reason: str, close: bool = True) -> bytes:
        date = self.shared.date + self.shared.extra_lines
        if status == 503:
            # RFC 9110 section 10.2.3: when the client may try again (elsewhere, or once restarted).
            date += RETRY_AFTER_LINE
        return error_response(status, reason, date, close=close)

    async def drain(self) -> None:
        out = self.out
        transport = self.transport
        if out and transport is not None:
            size = sum(map(len, out))
            # Streaming inside a batch: send the batch now so flow control can see it
            # (held back here, it would be memory no write buffer limit bounds).
            if size > WRITE_HIGH_WATER:
                if not transport.is_closing():
                    # One write each, not joined: a partly sent write is held whole, so a
                    # join would pin a copy of every chunk.  (Not writelines: asyncio's,
                    # on Python 3.12 and 3.13.0 at least, never pauses the protocol.)
                    for data in out:
                        transport.write(data)
                out.clear()
            elif len(out) > 16:
                if not transport.is_closing():
                    transport.write(b"".join(out))
                out.clear()
        if self.write_paused and not self.closed:
            waiter = self.drain_waiter = self.loop.create_future()
            await waiter
        if self.closed:
            raise ClientDisconnected

    def _wake_writer(self) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Input flow control

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def _update_reading(self) -> None:
        receiving = self.receiving
        body = receiving.body if receiving is not None else None
        should_pause = (
            len(self.queue) >= MAX_QUEUED_REQUESTS
            or (self.held is not None and len(self.held) > READ_HIGH_WATER)
            or (isinstance(body, HttpBody) and (body.buffered > READ_HIGH_WATER or body.error is not None))
        )
        if should_pause:
            self._pause_reading()
        elif self.reading_paused and not self.closed and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    # Used by HttpRequest and HttpBody

    def body_consumed(self) -> None:
        if self.reading_paused:
            self._update_reading()

    def continue_body(self, body: HttpBody) -> None:
        """RFC 9110 section 10.1.1: send 100 (Continue) when the app first reads the content."""
        request = self.current
        if (
            request is not None
            and request.body is body
            and request.expects_continue
            and not request.response_started
        ):
            request.expects_continue = False
            self._write(CONTINUE)

    def waiting_for_body(self, waiting: bool) -> None:
        """The app waits for content: the clock runs only then, so an app that stops
        reading (backpressure) never makes its client look slow."""
        self.body_wait = waiting
        if self.current is not None:
            now = self.shared.now
            if waiting:
                self.deadline = now + self.body_credit
            else:  # what is left is what the next wait starts with
                self.body_credit = max(self.deadline - now, 0.0)
                self.deadline = 0.0

    async def wait_closed(self) -> None:
        if self.closed:
            return
        waiter = self.loop.create_future()
        if self.close_waiters is None:
            self.close_waiters = []
        self.close_waiters.append(waiter)
        await waiter

    def send_raw(self, data: bytes) -> None:
        self._write(data)

    def end_upgrade(self) -> None:
        self._close()

    async def send_interim(self, request: HttpRequest, status: int, headers: RawHeaders) -> None:
        if request is not self.current or self.closed:
            raise ClientDisconnected
        self._write(status_line(status) + field_lines(headers) + b"\r\n")
        await self.drain()

    # Used by the server

    def timed_out(self) -> None:
        self.deadline = 0.0
        if self.lingering:
            if self.transport is not None:
                self.transport.close()
            return
        current = self.current
        if current is None:
            # (Content still arriving after its response is skipped: closed, unanswered.)
            if self.in_head:
                # RFC 9110 section 15.5.9: 408 "the server did not receive a complete
                # request message within the time that it was prepared to wait".
                self.in_head = False
                self._write(self._error(408, "request not received in time"))
            self._close()
        elif self.body_wait:
            if not current.response_started:
                current.response_started = True
                current.status = 408
                self._write(self._error(408, "request body not received in time"))
            self._close()
            if isinstance(current.body, HttpBody):
                current.body.fail(ClientDisconnected())

    def send_timed_out(self) -> None:
        """The client has read nothing of what was written for timeout_send."""
        self.shared.stalled.pop(self, None)
        logger.warning(
            "Closing the connection from %s: the client has not read the response for %s s",
            f"{self.client[0]}:{self.client[1]}" if self.client else "-",
            self.config.timeout_send,
        )
        self.abort()

    def shutdown(self) -> None:
        """Graceful stop: finish the request in progress; any other is answered 503.

        A connection that has sent nothing yet was accepted before the listener
        closed, and its client is sending its first request: that one is answered
        (with ``connection: close``) if it begins within FIRST_REQUEST_GRACE.
        Closing it unanswered would lose it, where a client retries a request only
        on a connection that served one before (RFC 9112 section 9.3.1).
        """
        if self.closed or self.read_closed:
            return
        if self.current is None and not self.in_head and self.parser.get_http_version() == "0.0":
            self.deadline = min(self.deadline, self.shared.now + FIRST_REQUEST_GRACE)
            return
        self.draining = True
        if self.current is None:
            if self.in_head:  # a request still arriving
                self.in_head = False
                self._write(self._error(503, "the server is shutting down"))
                logger.info("Refused a request still arriving: the server is shutting down")
                self._close(linger=True)
            else:
                self._close()

    def cancel(self) -> None:
        """Drain time is over: cancel the request in progress.

        Answered 503 if nothing of its response was sent, else the connection is
        aborted; either way the connection is closed.
        """
        current = self.current
        if self.task is not None:
            self.task.cancel("server shutting down")
        if current is not None and not current.response_started and not self.closed:
            current.response_started = True
            current.status = 503
            logger.warning(
                "Cancelled %s %s at the drain timeout; answered 503",
                current.method,
                current.target.decode("latin-1"),
            )
            self.queue.clear()
            self._write(self._error(503, "the server is shutting down"))
            self._close()
            return
        if current is not None:
            logger.warning(
                "Cancelled %s %s at the drain timeout; its response was cut off",
                current.method,
                current.target.decode("latin-1"),
            )
        self.abort()

    def abort(self) -> None:
        """Close at once, dropping whatever is still unsent."""
        self._abort()


def _family(transport: asyncio.BaseTransport) -> int:
    sock = transport.get_extra_info("socket")
    return int(sock.family) if sock is not None else -1


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


async def _run_upgrade(handler: UpgradeHandler, stream: UpgradeStream) -> None:
    await handler(stream)


async def _release(body: object) -> None:
    """Close an unsent body's descriptor (a FileBody's, if the app opened it) or iterator."""
    if isinstance(body, FileBody):
        if body.fd is not None:
            os.close(body.fd)
        return
    close = getattr(body, "aclose", None)
    if close is not None:
        await close()


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data
