"""The sans-IO core of an HTTP/1.1 connection: bytes in, requests out (RFC 9112).

``Core`` knows nothing of sockets, event loops or apps, and imports no asyncio:
the transport (``_protocol``) hands it the bytes that arrive, and finds in
``queue`` the requests parsed from them, in order, and in ``refusal`` the
``Rejection`` that ends the connection after them, where one is due.  It keeps the connection's input phase
(``_state``), wraps httptools, and checks on the raw bytes what llhttp is
lenient about (spaces in the request line, bare CR or LF before it, chunk
lines) with the rules of ``_http11``.

Nothing the core does runs the app: a request is queued when its head ends,
and the transport starts it once ``feed`` returns.  What else a batch of input
means for the transport (a head began, content arrived, the content of a
request already handed over was malformed) is left in a few fields it reads
and clears after a ``feed`` that set ``noted``; see ``Core.__init__``.

Framing and keep-alive are decided by the pure functions of ``_http11``, and
a response is turned into bytes by those of ``_response``: both are part of
this layer, and do no I/O either.

Compiled by mypyc in the compiled build: see ``hatch_build.py`` for what that rules out.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from httptools import HttpParserError, HttpParserInvalidMethodError, HttpParserUpgrade

from pyre.spec import ClientDisconnected

from . import _http11 as rules
from ._config import Config
from ._http11 import Rejection
from ._parser import message_start, new_parser
from ._request import EMPTY_BODY, HttpBody, HttpRequest
from ._state import BODY, CLOSED, HEAD, IDLE, MOVES, Event, InvalidTransition, advance

if TYPE_CHECKING:
    from ._channel import Channel

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
# Core.head_at for a head that began in the batch being parsed, where is not known.
HEAD_BEGAN_HERE: Final = -2

# The moves of the parser's callbacks, looked up once.
_ON_BEGIN: Final = MOVES[Event.BEGIN]
_ON_END: Final = MOVES[Event.END]
_ON_CLOSE: Final = MOVES[Event.CLOSE]


class Core:
    """One connection's request parsing: phases, the parser, the queue of what it parsed."""

    # fmt: off
    __slots__ = (
        "config", "channel", "request_type", "parser", "phase",  # what it is
        "queue", "refusal", "receiving", "held", "resumable", "draining", "last",  # where it is
        "noted", "began", "content_began", "content_received", "close_asked", "failed",  # notes
        "rejection", "completed", "valid_host", "valid_authority", "misread", "method_override",
        "url", "raw_headers", "special", "header_size", "header_check",  # the head being parsed
        "batch", "boundary", "message_end", "head_at", "line_end", "head_tail", "line_part",
        "pending_cr", "chunked", "head_seen",  # where llhttp is in the raw bytes
        "skipped", "skipped_close",  # an upgrade request's content, which llhttp does not read
    )
    # fmt: on
    # What lost() deletes (compiled with mypyc, an attribute may be deleted only if named here).
    __deletable__ = ("parser", "channel")

    # Set before they are read, by feed and the parser's callbacks (a new connection
    # per request pays for each field its __init__ sets):
    resumable: bool  # whether the bytes held after an Upgrade are parsed if the app declines
    completed: int  # messages completed in this batch
    url: bytes  # the request head being parsed: its target,
    raw_headers: list[tuple[bytes, bytes]]  # its field lines,
    special: dict[bytes, list[bytes]]  # the values of the fields the checks need,
    header_size: int  # and the size of its section.
    # Where llhttp is in the raw bytes, as far as known: what it is lenient about is
    # checked on the bytes themselves.  Offsets are into ``batch``, the data being
    # parsed; -1 is unknown.
    batch: bytes
    boundary: int  # a message may begin here
    message_end: int  # the message being parsed ends here
    head_at: int  # its request line starts here
    line_end: int  # and ends here, at its CRLF (-1: not in this batch, or not known)
    head_tail: bytes  # the last bytes of the batch before, while a head spans them
    head_seen: int  # bytes of a head that spans batches, so far
    skipped_close: bool  # the request whose content is ``skipped`` says close

    def __init__(
        self, config: Config, channel: Channel, request_type: type[HttpRequest], header_check: int
    ) -> None:
        self.config = config
        self.channel = channel  # what each request and body is made with
        self.request_type = request_type
        self.parser = new_parser(self)
        self.phase = IDLE
        # Parsed requests waiting for their turn (the transport takes them from the
        # front), and the Rejection that ends the connection after them, if one is due.
        self.queue: deque[HttpRequest] = deque()
        self.refusal: Rejection | None = None
        self.receiving: HttpRequest | None = None  # the request whose content is arriving
        self.held: bytearray | None = None  # the bytes after an Upgrade request (HELD)
        self.draining = False  # set by the transport: a request that begins now is answered 503
        self.last = False  # the message being parsed is the last one (it says close)
        # What a feed leaves for the transport, which reads and clears them when noted:
        self.noted = False
        self.began = False  # a request head began, and goes on in the next batch
        self.content_began = False  # a request with content was parsed
        self.content_received = 0  # octets of request content
        self.close_asked = False  # content went over limit_body_size after its response began
        # Malformed content of a request the transport has taken from the queue already.
        self.failed: tuple[HttpRequest, Rejection] | None = None
        self.rejection: Rejection | None = None
        self.valid_host = b""
        self.valid_authority = ""
        self.misread = False
        self.method_override: bytes | None = None
        self.header_check = header_check
        self.line_part: bytes | None = None  # the request line so far, while it spans batches
        self.pending_cr = False  # the bytes before a request line so far end in CR
        self.chunked: rules.ChunkedScan | None = None
        self.skipped = 0  # octets of an upgrade request's content still to come (PYRE-UPG-9)

    # The transport's side

    def feed(self, data: bytes) -> None:
        """Parse ``data``, in phases IDLE, HEAD and BODY."""
        repaired = False
        while True:
            retry: bytes | None = None  # the batch again, its failed head repaired
            at_boundary = self.phase is IDLE
            self.completed = 0
            self.batch = data
            if at_boundary and not self.pending_cr:  # the common case: a message starts here
                self.boundary = 0
            elif self.skipped:
                self._skipped_content(data)
                return
            else:
                try:
                    self._screen(data, at_boundary)
                except Rejection as rejection:
                    self.rejection = rejection
                    self._parse_failed(None)
                    return
            try:
                self.parser.feed_data(data)
                if self.phase is HEAD:  # a head goes on in the next batch
                    self._head_continues(data)
                elif 0 <= self.boundary < len(data) and self.phase is IDLE:
                    # What follows the last message: empty lines before the next one.
                    self.pending_cr = rules.check_leading_lines(data[self.boundary :])
            except Rejection as rejection:
                self.rejection = rejection
                self._parse_failed(None)
            except HttpParserUpgrade as upgrade:
                if self.skipped:  # its content comes first
                    self._content_follows(data[upgrade.args[0] :])
                else:
                    # The request asked to switch protocols (or was CONNECT): what follows
                    # is either the new protocol or, if the app declines, the next request.
                    self.resumable = self.phase is IDLE
                    self.phase = advance(self.phase, Event.UPGRADE)
                    self.held = bytearray(data[upgrade.args[0] :])
            except HttpParserError as error:
                if isinstance(error.__context__, InvalidTransition):
                    raise error.__context__ from None  # the server's bug, not the client's
                first_message = self.completed == 0
                self.misread = False
                if (
                    self.rejection is None
                    and self.phase is HEAD
                    and at_boundary
                    and not (repaired and first_message)
                ):
                    retry = self._repaired(data)
                if retry is None:
                    self._parse_failed(error)
            finally:
                self.batch = b""
            if retry is None:
                return
            # llhttp refused a head the RFC allows: parse the repaired form, and what
            # followed it.  (Not a continue inside the try: mypyc compiles no such thing.)
            data, repaired = retry, True

    def hold(self, data: bytes) -> None:
        """Bytes that arrive in phase HELD wait for the app's answer to the Upgrade."""
        assert self.held is not None
        self.held += data

    def resume(self) -> None:
        """The app declined to switch protocols: what followed is parsed as requests."""
        held, self.held = self.held, None
        if not self.resumable:  # the upgrade request said close
            self.phase = advance(self.phase, Event.CLOSE)
            return
        self.phase = advance(self.phase, Event.RESUME)
        self.parser = new_parser(self)
        if held:
            self.feed(bytes(held))

    def switch(self) -> bytearray:
        """The app switched protocols: the bytes that followed the request, now the new protocol's.

        The app may switch before the request's content has all come (``skipped`` octets of it
        still to come): that content is dropped, and the new protocol's bytes come after it."""
        self.phase = advance(self.phase, Event.SWITCH)
        held, self.held = self.held, None
        self.skipped = 0
        receiving, self.receiving = self.receiving, None
        if receiving is not None and isinstance(receiving.body, HttpBody):
            receiving.body.discard()
        return held if held is not None else bytearray()

    def stop(self) -> bool:
        """Read nothing more (RFC 9112 section 9.6); whether content was still arriving.

        Requests waiting for their turn are dropped: "A server that sends a "close"
        connection option MUST NOT process any further requests received on that
        connection".
        """
        self.phase = advance(self.phase, Event.CLOSE)
        self.queue.clear()
        self.refusal = None
        receiving, self.receiving = self.receiving, None
        return receiving is not None

    def lost(self) -> None:
        """The connection is gone: content still awaited fails, and the core lets go.

        The parser calls back into the core and the core makes requests with the
        channel: reference cycles that only the cyclic collector would free; with a
        new connection per request that costs about 6% of the server's time.
        """
        receiving = self.receiving
        if receiving is not None:
            if isinstance(receiving.body, HttpBody):
                receiving.body.fail(ClientDisconnected())
            self.receiving = None
        self.phase = _ON_CLOSE[self.phase]  # stop(), inline: once per connection
        self.queue.clear()
        self.refusal = None
        del self.parser
        del self.channel

    def untouched(self) -> bool:
        """No byte of a request has been parsed (on this parser)."""
        return self.phase is IDLE and self.parser.get_http_version() == "0.0"

    # Parsing

    def _head_continues(self, data: bytes) -> None:
        head_at = self.head_at
        if head_at != -1:  # it began in this batch
            self.began = self.noted = True
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
        elif self.phase is BODY:
            assert self.receiving is not None
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
        self.phase = advance(self.phase, Event.REPARSE)
        return head + data[end + 4 :]

    # httptools callbacks: one request message, RFC 9112 sections 2-7

    def on_message_begin(self) -> None:
        if self.phase is CLOSED:
            raise ConnectionAbortedError  # nothing after "close" is processed: stop the parser here
        if self.draining:
            # RFC 9110 section 15.6.4: 503, the server is going away; it comes after the
            # response in progress, which therefore keeps the connection open for it.
            raise self._reject(503, "the server is shutting down")
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
            end = self.line_end = data.find(b"\r\n", pos)
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
            self.line_end = -1
        self.phase = _ON_BEGIN[self.phase]
        self.url = b""
        self.raw_headers = []
        self.special = {}
        self.header_size = 0

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
        if self.phase is not HEAD:
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
        try:
            request = self._request()
            if request.body is EMPTY_BODY and self.head_at >= 0:  # the common case, inline
                self.message_end = self.batch.find(b"\r\n\r\n", self.head_at) + 4
            else:
                self._frame(request)
        except Rejection as rejection:
            self.rejection = rejection
            self.receiving = None  # (its content's first bytes are bad): nobody saw the request
            raise
        self.last = not request.keep_alive
        self.queue.append(request)

    def _request(self) -> HttpRequest:
        parser = self.parser
        # The version llhttp parsed, read off the request line where it is in this batch:
        # get_http_version() formats a new str each time (some 2,000 instructions).
        head_at = self.head_at
        if head_at >= 0 and self.line_end >= 0 and self.batch.endswith(b" HTTP/1.1", head_at, self.line_end):
            version = "1.1"
        else:
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
            # rules.request_keep_alive(version, method, None), inline on this path.
            keep_alive = version == "1.1" and method != "CONNECT"
            return self.request_type(
                self.channel,
                method,
                target,
                version,
                raw_path,
                query,
                authority,
                self.raw_headers,
                keep_alive,
            )
        options = special.get(b"connection")
        keep_alive = rules.request_keep_alive(
            version, method, rules.connection_options(options) if options else None
        )
        request = self.request_type(
            self.channel, method, target, version, raw_path, query, authority, self.raw_headers, keep_alive
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
        if request.upgrade_requested:
            # pyre spec PYRE-UPG-9: llhttp (as httptools drives it) stops at the end of the head
            # of a request asking to upgrade, and ends the message there; the content would reach
            # the upgraded stream, or be parsed as the next request (a request hidden in the
            # content of one a proxy forwards).
            if length is None:  # chunked: where it ends is llhttp's to find (rare; refused)
                raise Rejection(400, "chunked content in a request that asks to upgrade")
            # With a Content-Length the core reads the content itself (_content_follows), and
            # holds what follows it for the app's answer, as for any upgrade request.  Until
            # then the request keeps the connection: llhttp's early end of it must not close.
            request.body = HttpBody(self.channel, length)
            self.skipped = length
            self.skipped_close = not request.keep_alive
            request.keep_alive = True
            return request
        request.body = HttpBody(self.channel, length)
        self.phase = advance(self.phase, Event.CONTENT)
        self.content_began = self.noted = True
        self.receiving = request
        return request

    def _content_follows(self, data: bytes) -> None:
        """The head of an upgrade request with content has ended (``_request``), and llhttp
        with it the message: its content is ``data`` on, read by ``_skipped_content``."""
        request = self.queue[-1]  # (the transport takes requests once feed returns)
        self.phase = advance(self.phase, Event.CONTENT)
        self.receiving = request
        request.keep_alive = not self.skipped_close
        self.last = self.skipped_close
        self.content_began = self.noted = True
        self._skipped_content(data)

    def _skipped_content(self, data: bytes) -> None:
        """The content of the upgrade request being received, as on_body has it from
        llhttp; once it is complete, what follows waits for the app's answer (HELD)."""
        left = self.skipped
        content = data[:left] if len(data) > left else data
        self.skipped = left - len(content)
        if content:
            self.on_body(content)
        if self.skipped:
            return
        self.on_message_complete()
        self.resumable = self.phase is IDLE
        self.phase = advance(self.phase, Event.UPGRADE)
        self.held = bytearray(data[len(content) :])

    def on_body(self, data: bytes) -> None:
        request = self.receiving
        if request is None or not isinstance(request.body, HttpBody):
            return
        body = request.body
        body.feed(data, self.config.limit_body_size)
        self.content_received += len(data)
        self.noted = True
        if body.error is not None:
            # Content over the limit: whatever the app answers, the connection closes after it.
            request.keep_alive = False
            self.last = True
            if body.discarding or request.response_started:
                self.stop()
                self.close_asked = self.noted = True

    def on_message_complete(self) -> None:
        self.completed += 1
        self.boundary = self.message_end  # (set for every message by _frame or _screen)
        self.phase = _ON_END[self.phase]
        request = self.receiving
        if request is not None:
            self.receiving = None
            # RFC 9110 section 10.1.1: "A server MAY omit sending a 100 (Continue)
            # response if it has already received some or all of the content".
            request.expects_continue = False
            if isinstance(request.body, HttpBody):
                request.body.end()
        if self.last:
            self.last = False
            self.phase = advance(self.phase, Event.CLOSE)

    def _reject(self, status: int, reason: str) -> Rejection:
        self.rejection = Rejection(status, reason)
        return self.rejection

    def _parse_failed(self, error: HttpParserError | None) -> None:
        rejection = self.rejection
        if rejection is None:
            if self.phase is CLOSED:
                return  # bytes after a "Connection: close" request are ignored, not answered
            assert error is not None  # a check of this server's own sets self.rejection
            reason = (
                "malformed request line" if isinstance(error, HttpParserInvalidMethodError) else str(error)
            )
            rejection = Rejection(rules.status_for_parser_error(str(error)), reason)
        self.rejection = None
        receiving, self.receiving = self.receiving, None
        self.phase = advance(self.phase, Event.CLOSE)
        if receiving is not None:
            # Malformed content: the request it belongs to cannot be answered normally.
            if isinstance(receiving.body, HttpBody):
                receiving.body.fail(ClientDisconnected())
            if receiving not in self.queue:  # the transport's already: answered, or being answered
                self.failed = (receiving, rejection)
                self.noted = True
                return
            # Answered in its place (the last one queued, as its content came last): the
            # app still sees it, and its answer is dropped (pyre spec PYRE-BODY-16).
            self.queue.remove(receiving)
            rejection.request = receiving
        self.refusal = rejection
