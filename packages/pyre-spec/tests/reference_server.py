"""A small pyre-spec server on h11: the proof that the conformance suite can be passed.

It favours being obviously right over being fast.  Each request cycle gets a
fresh ``h11.Connection``: the server first finds the request head in its own
buffer and checks what h11 is lenient about (leading empty lines, obs-fold,
bare CR, limits), then lets h11 parse the head and the body.

It also carries the mutants of the kit's mutation test
(``test_conformance_mutants.py``): each entry of ``MUTANTS`` is one deliberate
violation of the specification, switched on by passing its name to ``serve``
in ``mutations``.  The code that a mutant changes asks ``mutated(name)`` at the
one place it departs from the conforming path; with no mutations it is never
true.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import h11

from pyre.spec import (
    EXT_EARLY_HINTS,
    REASON_PHRASES,
    STATUSES_WITHOUT_CONTENT,
    Application,
    ClientDisconnected,
    FileBody,
    FileBodyReader,
    HasLifespan,
    Headers,
    RawHeaders,
    RequestBodyTooLarge,
    Response,
    ServerInfo,
    State,
    decode_path,
    is_field_value,
    is_lowercase_token,
    open_file_body,
    read_to_end,
)
from pyre.spec.testing.conformance import Limits

logger = logging.getLogger("reference_server")

SERVER_INFO = ServerInfo(name="pyre-spec-reference/1.0", extensions=frozenset({EXT_EARLY_HINTS}))
READ_HIGH_WATER = 64 * 1024
# PYRE-REQ-23: an interim response has no content and does not change the connection.
_NOT_IN_INTERIM = frozenset({b"content-length", b"transfer-encoding", b"connection"})

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_PCHAR = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"
_ORIGIN_FORM = re.compile(rb"/" + _PCHAR + rb"*")
_ABSOLUTE_FORM = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(" + _PCHAR + rb"*)")
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")


@dataclass(frozen=True)
class Mutant:
    """One deliberate violation this server can be started with."""

    name: str
    breaks: str
    """The assertion ID of the requirement it violates."""
    violation: str


MUTANTS: dict[str, Mutant] = {
    mutant.name: mutant
    for mutant in [
        Mutant("header-injection", "PYRE-RESP-7", "CR/LF in an app's header value reaches the wire"),
        Mutant(
            "file-left-open", "PYRE-RESP-19", "a FileBody's descriptor is never closed unless read to the end"
        ),
        Mutant("shared-context", "PYRE-APP-4", "contextvars leak from one keep-alive request into the next"),
        Mutant("interim-any-status", "PYRE-REQ-19", "`send_interim(200)` is accepted (and dropped)"),
        Mutant("client-as-list", "PYRE-REQ-11", "`request.client` is a list, not an Address"),
        Mutant(
            "cancel-on-disconnect", "PYRE-ERR-6", "the request task is cancelled when the client disconnects"
        ),
        Mutant("length-on-204", "PYRE-FRAME-8", "Content-Length kept on a 204"),
        Mutant("length-dropped-on-304", "PYRE-FRAME-8", "the app's Content-Length removed from a 304"),
        Mutant(
            "chunked-with-length",
            "PYRE-FRAME-4",
            "a stream with an app Content-Length sent chunked, with both fields",
        ),
        Mutant("head-with-body", "PYRE-FRAME-7", "HEAD answered with the body"),
        Mutant(
            "trailers-without-chunked", "PYRE-RESP-15", "trailers called and sent after a non-chunked body"
        ),
        Mutant(
            "trailers-dropped",
            "PYRE-FRAME-1",
            "a bytes body with trailers sent with Content-Length, trailers lost",
        ),
        Mutant("early-continue", "PYRE-BODY-12", "100 Continue sent before the app reads"),
        Mutant("continue-to-http10", "PYRE-BODY-11", "100 Continue sent to an HTTP/1.0 client"),
        Mutant("interim-to-http10", "PYRE-RESP-22", "interim responses sent to an HTTP/1.0 client"),
        Mutant("no-date", "PYRE-FRAME-10", "no Date field"),
        Mutant(
            "connection-close-dropped",
            "PYRE-FRAME-6",
            "the app's `connection: close` dropped, the connection kept",
        ),
        Mutant("error-details", "PYRE-ERR-1", "the 500 response shows the exception"),
        Mutant(
            "error-ends-stream", "PYRE-ERR-2", "a stream that raises ends its chunked body as if complete"
        ),
        Mutant("file-region-ignored", "PYRE-RESP-18", "a FileBody's offset and count ignored"),
        Mutant("cl-te-accepted", "PYRE-BODY-5", "a request with Content-Length and chunked accepted"),
        Mutant("target-limit-ignored", "PYRE-WIRE-5", "a request-target over the limit accepted"),
        Mutant("body-limit-ignored", "PYRE-BODY-7", "request content over the limit accepted"),
        Mutant(
            "state-per-request",
            "PYRE-REQ-13",
            "`request.state` a copy per request, not the lifespan's mapping",
        ),
        Mutant("failed-startup-serves", "PYRE-LIFE-6", "the server serves although lifespan startup raised"),
        Mutant("trailers-before-body", "PYRE-HDR-7", "`request.trailers` set before the body is read"),
        Mutant("trailers-in-headers", "PYRE-HDR-8", "request trailers merged into `request.headers`"),
    ]
}


class InvalidResponse(Exception):
    """The app's response breaks the interface (PYRE-RESP-7): an application error."""


class _Rejected(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _date() -> bytes:
    return formatdate(usegmt=True).encode()


def _error_response(status: int, detail: bytes = b"") -> bytes:
    body = REASON_PHRASES[status].encode() + detail
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
        b"connection: close\r\ndate: %s\r\n\r\n%s"
        % (status, REASON_PHRASES[status].encode(), len(body), _date(), body)
    )


def _split_target(method: str, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """``(raw_path, query, authority from the target)``; raises ``_Rejected`` for invalid targets."""
    if target.startswith(b"/"):
        if not _ORIGIN_FORM.fullmatch(target):
            raise _Rejected(400)
        raw_path, _, query = target.partition(b"?")
        return raw_path, query, None
    if target == b"*" and method == "OPTIONS":
        return b"*", b"", None
    if method == "CONNECT":
        if not _HOST.fullmatch(target) or b":" not in target:
            raise _Rejected(400)
        return b"", b"", target
    match = _ABSOLUTE_FORM.fullmatch(target)
    if match is None or not _HOST.fullmatch(match[2]):
        raise _Rejected(400)
    raw_path, _, query = match[3].partition(b"?")
    return raw_path or b"/", query, match[2]


def _response_problem(response: object) -> str | None:
    """What makes the app's response an application error (PYRE-RESP-7), if anything."""
    if not isinstance(response, Response):
        return f"{response!r:.100} is not a Response"
    status = response.status
    # 101 too: this server offers no upgrade (PYRE-UPG-3).
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        return f"status {status!r} is not an int from 200 to 599"
    headers: object = response.headers  # what the app gave, whatever its annotation says
    if not isinstance(headers, Sequence) or isinstance(headers, (str, bytes)):
        return f"headers {headers!r:.100} are not a sequence"
    for pair in headers:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, bytes) for part in pair)):
            return f"header {pair!r:.100} is not a pair of bytes"
        if not is_lowercase_token(pair[0]) or not is_field_value(pair[1]):
            return f"header {pair!r:.100} is not a lowercase token and a field value"
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
        return f"content-length {lengths} is not one decimal number (PYRE-FRAME-3)"
    body: object = response.body
    if not isinstance(body, (bytes, FileBody, AsyncIterable)):
        return f"body {body!r:.100} is neither bytes, a FileBody nor an async iterable"
    if response.trailers is not None and not callable(response.trailers):
        return "trailers is not callable"
    if response.upgrade is not None:
        return "this server offers no upgrade"
    return None


async def _discard(body: object) -> None:
    """Release the body of a response that is not sent: close its descriptor, close its stream."""
    if isinstance(body, FileBody):
        if body.fd is not None:
            os.close(body.fd)  # PYRE-RESP-19: the descriptor is the server's, sent or not
        return
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


class _Body:
    def __init__(self, connection: _Connection, request: _Request, length: int | None) -> None:
        self._connection = connection
        self._request = request
        self._length = length
        self._done = length == 0
        self._received = 0
        self._too_large = False
        if connection.server.mutated("trailers-before-body"):
            request.trailers = Headers([])

    @property
    def length(self) -> int | None:
        return self._length

    async def read(self, max_size: int | None = None) -> bytes:
        return await read_to_end(self, max_size)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        h11_conn = self._request.h11
        limit = connection.server.limits.max_body
        if connection.server.mutated("body-limit-ignored"):
            limit = None
        if self._too_large and limit is not None:  # PYRE-BODY-19: once past the limit, for good
            raise RequestBodyTooLarge(limit)
        if not self._done:
            await self._continue()
        while not self._done:
            try:
                event = await connection.next_event(h11_conn)
            except h11.RemoteProtocolError as exc:
                if not connection.eof:  # PYRE-BODY-17: malformed content, answered in place of the app
                    self._request.bad_status = exc.error_status_hint
                raise ClientDisconnected from exc
            if isinstance(event, h11.Data):
                self._received += len(event.data)
                if limit is not None and self._received > limit:
                    self._too_large = True
                    raise RequestBodyTooLarge(limit)
                if event.data:
                    yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                trailers = list(event.headers.raw_items())
                self._request.trailers = Headers(trailers)
                if connection.server.mutated("trailers-in-headers"):
                    self._request.headers = Headers([*self._request.headers.raw, *trailers])
            else:
                raise ClientDisconnected
        if self._request.trailers is None:  # PYRE-HDR-7: set once the app has consumed an empty body
            self._request.trailers = Headers([])

    async def _continue(self) -> None:
        """PYRE-BODY-10: 100 Continue goes out when the app first reads, if the client waits for it."""
        request = self._request
        h11_conn = request.h11
        if h11_conn.they_are_waiting_for_100_continue and h11_conn.our_state is h11.SEND_RESPONSE:
            await self._connection.write(
                h11_conn.send(h11.InformationalResponse(status_code=100, headers=[]))
            )
        elif (
            self._connection.server.mutated("continue-to-http10")
            and request.http_version == "1.0"
            and request.headers.get("expect", "").lower() == "100-continue"
        ):
            await self._connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")


class _Request:
    """``pyre.spec.Request`` over one h11 request event."""

    def __init__(
        self,
        connection: _Connection,
        h11_conn: h11.Connection,
        event: h11.Request,
        http_version: str,
        raw_headers: RawHeaders,
        length: int | None,
    ) -> None:
        mutated = connection.server.mutated
        self.h11 = h11_conn
        self._connection = connection
        self.method = event.method.decode("ascii")
        self.target = bytes(event.target)
        self.raw_path, self.query, target_authority = _split_target(self.method, self.target)
        self.path = decode_path(self.raw_path)
        self.http_version = http_version
        self.scheme = "http"
        self.headers = Headers(raw_headers)
        self.authority = (
            target_authority.decode("latin-1") if target_authority is not None else self.headers.get("host")
        )
        self.trailers: Headers | None = None
        self.bad_status: int | None = None
        """The status that answers malformed content found after the app was called (PYRE-BODY-17)."""
        self.client: Any = list(connection.peer or ()) if mutated("client-as-list") else connection.peer
        self.server = connection.local
        self.root_path = ""
        self.state: State = (
            dict(connection.server.state) if mutated("state-per-request") else connection.server.state
        )
        self.extensions: Mapping[str, object] = {}
        self.server_info = SERVER_INFO
        self.body = _Body(connection, self, length)
        self.responded = False

    @property
    def disconnected(self) -> bool:
        return self._connection.eof

    async def wait_disconnected(self) -> None:
        await self._connection.disconnect_event.wait()

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        mutated = self._connection.server.mutated
        if not isinstance(status, int) or not 100 <= status < 200 or status == 101:
            if mutated("interim-any-status"):
                return
            raise ValueError(f"send_interim takes a 1xx status other than 101, not {status!r}")
        for name, value in headers:  # PYRE-REQ-23: checked before anything is written
            if not is_lowercase_token(name) or not is_field_value(value) or name in _NOT_IN_INTERIM:
                raise ValueError(f"field {name!r}: {value!r} cannot be sent in an interim response")
        if self.disconnected:  # PYRE-REQ-24
            raise ClientDisconnected
        if (self.http_version == "1.0" and not mutated("interim-to-http10")) or self.responded:
            return
        await self._connection.write(
            self.h11.send(h11.InformationalResponse(status_code=status, headers=list(headers)))
        )


class _Connection(asyncio.Protocol):
    def __init__(self, server: ReferenceServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.inbox = bytearray()
        self.eof = False
        self.closed = False
        self.disconnect_event = asyncio.Event()
        self.peer: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self.task: asyncio.Task[None] | None = None
        self.request_task: asyncio.Task[bool] | None = None

    # -- asyncio.Protocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")[:2]
        self.local = transport.get_extra_info("sockname")[:2]
        self.server.connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self.run())

    def data_received(self, data: bytes) -> None:
        self.inbox += data
        if len(self.inbox) > READ_HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._peer_gone()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._peer_gone()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self.server.connections.discard(self)

    def _peer_gone(self) -> None:
        self.eof = True
        self.disconnect_event.set()
        self._wake_reader()
        if self.server.mutated("cancel-on-disconnect") and self.request_task is not None:
            self.request_task.cancel()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- I/O -------------------------------------------------------------

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    async def receive_more(self) -> bool:
        """Wait for more bytes than the inbox holds; ``False`` once the peer has closed instead."""
        if self.eof:
            return False
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        self._data_waiter = asyncio.get_running_loop().create_future()
        await self._data_waiter
        return True

    def take(self) -> bytes:
        data = bytes(self.inbox)
        self.inbox.clear()
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def next_event(self, conn: h11.Connection) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.inbox:
                conn.receive_data(self.take())
            elif self.eof:
                conn.receive_data(b"")
            else:
                await self.receive_more()

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ClientDisconnected
        self.transport.write(data)
        if self._writing_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter
            if self.closed:
                raise ClientDisconnected

    def reject(self, status: int, detail: bytes = b"") -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(_error_response(status, detail))

    # -- request cycles ----------------------------------------------------

    async def run(self) -> None:
        try:
            while await self.cycle():
                pass
        except Exception:
            logger.exception("connection failed")
        finally:
            if self.transport is not None and not self.closed:
                self.transport.close()

    async def read_head(self) -> bytes | None:
        """Wait for a whole request head in the inbox; ``None`` after answering an error or EOF."""
        limits = self.server.limits
        while True:
            # RFC 9112 section 2.2: ignore empty lines received before the request-line.
            while self.inbox[:2] == b"\r\n" or self.inbox[:1] == b"\n":
                del self.inbox[: 2 if self.inbox[:1] == b"\r" else 1]
            match = _HEAD_END.search(self.inbox)
            if match is not None:
                return bytes(self.inbox[: match.end()])
            if len(self.inbox) > self.server.max_head:
                line_end = self.inbox.find(b"\n")
                self.reject(414 if line_end < 0 or line_end > (limits.max_target or 65536) else 431)
                return None
            if not await self.receive_more():
                return None

    async def cycle(self) -> bool:
        head = await self.read_head()
        if head is None:
            return False
        status = _head_error(head)
        if status is not None:
            self.reject(status)
            return False
        limits = self.server.limits
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.server.max_head)
        conn.receive_data(self.take())
        try:
            event = conn.next_event()
            assert isinstance(event, h11.Request), event
            request = self.build_request(conn, event, limits)
        except h11.RemoteProtocolError as exc:
            self.reject(exc.error_status_hint)
            return False
        except _Rejected as rejection:
            self.reject(rejection.status)
            return False
        if self.server.mutated("early-continue") and conn.they_are_waiting_for_100_continue:
            await self.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        keep_alive = await self.run_request(request)
        if conn.their_state is h11.SEND_BODY and request.body.length == 0:
            conn.next_event()  # the EndOfMessage of an empty body
        if not keep_alive or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return False
        self.inbox[:0] = conn.trailing_data[0]
        return True

    def build_request(self, conn: h11.Connection, event: h11.Request, limits: Limits) -> _Request:
        mutated = self.server.mutated
        version = event.http_version.decode()
        if not version.startswith("1."):
            raise _Rejected(505)
        # RFC 9110 section 2.5: a higher minor version is processed as the highest we implement.
        http_version = "1.0" if version == "1.0" else "1.1"
        max_target = None if mutated("target-limit-ignored") else limits.max_target
        if max_target is not None and len(event.target) > max_target:
            raise _Rejected(414)
        raw_headers = list(event.headers.raw_items())
        if limits.max_header_count is not None and len(raw_headers) > limits.max_header_count:
            raise _Rejected(431)
        size = sum(len(name) + len(value) + 4 for name, value in raw_headers)
        if limits.max_header_bytes is not None and size > limits.max_header_bytes:
            raise _Rejected(431)
        names = [name.lower() for name, _ in raw_headers]
        hosts = [value for name, value in raw_headers if name.lower() == b"host"]
        if len(hosts) > 1 or (hosts and not _HOST.fullmatch(hosts[0])):
            raise _Rejected(400)
        chunked = b"transfer-encoding" in names
        both = b"content-length" in names and not mutated("cl-te-accepted")
        if chunked and (both or http_version == "1.0"):
            # RFC 9112 section 6.1: both framings, or chunked in HTTP/1.0, is faulty framing.
            raise _Rejected(400)
        length: int | None = None
        if not chunked:
            length = _content_length(event)
            max_body = None if mutated("body-limit-ignored") else limits.max_body
            if max_body is not None and length > max_body:
                raise _Rejected(413)
        return _Request(self, conn, event, http_version, raw_headers, length)

    async def run_request(self, request: _Request) -> bool:
        """Run the app and send its response; whether the connection may carry another request.

        PYRE-APP-4 and PYRE-APP-5: each request runs in a Task of its own, in a copy of
        the context the server was started in, so what one request sets is not seen by
        the next one on the connection.
        """
        if self.server.mutated("shared-context"):
            return await self.respond(request)
        loop = asyncio.get_running_loop()
        self.request_task = loop.create_task(self.respond(request), context=self.server.context.copy())
        try:
            return await self.request_task
        finally:
            self.request_task = None

    async def respond(self, request: _Request) -> bool:
        try:
            response = await self.server.app(request)
            problem = None if self.server.mutated("header-injection") else _response_problem(response)
            if problem is not None:
                await _discard(getattr(response, "body", None))
                raise InvalidResponse(problem)
        except RequestBodyTooLarge:
            self.reject(413)
            return False
        except ClientDisconnected:
            if request.bad_status is not None:
                self.reject(request.bad_status)
            return False
        except Exception as exc:
            self.fail(exc)
            return False
        if request.bad_status is not None:  # PYRE-BODY-17: whatever the app returned is not written
            await _discard(getattr(response, "body", None))
            self.reject(request.bad_status)
            return False
        request.responded = True
        try:
            body = await self.open_body(response.body)
        except Exception as exc:  # PYRE-RESP-18: a file that cannot be sent is an error before the response
            self.fail(exc)
            return False
        try:
            await self.send(request, response, body)
        except ClientDisconnected:
            return False
        except Exception:
            logger.exception("application error while sending the response")
            if self.transport is not None:
                self.transport.abort()
            return False
        return True

    def fail(self, exc: Exception) -> None:
        """PYRE-ERR-1: an application error before the response is a 500 that shows nothing of it."""
        logger.error("application error", exc_info=exc)
        self.reject(500, repr(exc).encode() if self.server.mutated("error-details") else b"")

    async def open_body(
        self, body: bytes | FileBody | AsyncIterable[bytes]
    ) -> bytes | FileBodyReader | AsyncIterable[bytes]:
        if not isinstance(body, FileBody):
            return body
        if self.server.mutated("file-region-ignored"):
            body = dataclasses.replace(body, offset=0, count=None)
        return await open_file_body(body)

    async def send(
        self, request: _Request, response: Response, body: bytes | FileBodyReader | AsyncIterable[bytes]
    ) -> None:
        """Write the response, framed as pyre-spec section 6.5 says; ``body`` is its opened content."""
        mutated = self.server.mutated
        conn = request.h11
        status = response.status
        no_content = request.method == "HEAD" or status in STATUSES_WITHOUT_CONTENT
        headers = [(name, value) for name, value in response.headers if name != b"transfer-encoding"]
        if (status == 204 and not mutated("length-on-204")) or (
            status == 304 and mutated("length-dropped-on-304")
        ):
            headers = [(name, value) for name, value in headers if name != b"content-length"]
        if mutated("connection-close-dropped"):
            headers = [(name, value) for name, value in headers if name != b"connection"]
        app_length = next((value for name, value in headers if name == b"content-length"), None)
        if not any(name == b"date" for name, _ in headers) and not mutated("no-date"):
            headers.append((b"date", _date()))
        if not any(name == b"server" for name, _ in headers):
            headers.append((b"server", SERVER_INFO.name.encode()))
        size = (
            len(body)
            if isinstance(body, bytes)
            else body.length
            if isinstance(body, FileBodyReader)
            else None
        )
        # Only the chunked coding carries trailers: a response with trailers is sent chunked
        # on HTTP/1.1 whatever its body, unless the app gave a content-length (PYRE-FRAME-1).
        chunked = request.http_version == "1.1" and not no_content and app_length is None
        if size is not None:
            chunked = chunked and response.trailers is not None and not mutated("trailers-dropped")
        elif app_length is not None and mutated("chunked-with-length"):
            chunked = request.http_version == "1.1" and not no_content
        if chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        elif size is not None:
            headers = self._length_fields(request, status, headers, app_length, size)
        try:
            head = conn.send(
                h11.Response(status_code=status, headers=headers, _parsed=mutated("header-injection"))
            )
            if mutated("chunked-with-length") and chunked and app_length is not None:
                head = head[:-2] + b"content-length: " + app_length + b"\r\n\r\n"  # h11 dropped it
            if no_content:
                leaked = body if mutated("head-with-body") and isinstance(body, bytes) else b""
                await self.write(head + leaked + conn.send(h11.EndOfMessage()))
            elif isinstance(body, bytes) and not chunked:
                await self.write(head + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                await self._misplaced_trailers(response)
            else:
                await self.write(head)
                if isinstance(body, bytes):
                    await self.write(conn.send(h11.Data(data=body)) if body else b"")
                else:
                    await self._send_chunks(conn, body)
                if chunked:
                    trailers = await response.trailers() if response.trailers is not None else []
                    await self.write(conn.send(h11.EndOfMessage(headers=list(trailers))))
                else:
                    await self.write(conn.send(h11.EndOfMessage()))
                    await self._misplaced_trailers(response)
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None and not (isinstance(body, FileBodyReader) and mutated("file-left-open")):
                await aclose()

    def _length_fields(
        self,
        request: _Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        app_length: bytes | None,
        size: int,
    ) -> list[tuple[bytes, bytes]]:
        """The content-length of content the server knows the size of (PYRE-FRAME-1, 3, 8 and 9)."""
        true_length = str(size).encode()
        if app_length is None:
            if status == 304 or (status == 204 and not self.server.mutated("length-on-204")):
                return headers  # the length of a 200 is unknown here; a 204 has none
            return [*headers, (b"content-length", true_length)]
        if app_length == true_length or request.method == "HEAD" or status in (204, 304):
            return headers  # a HEAD's and a 304's are the app's to give
        logger.warning(
            "%s %r: the app's content-length %s disagrees with its %d bytes of content; sending %d",
            request.method,
            request.target,
            app_length.decode(),
            size,
            size,
        )
        return [(name, true_length if name == b"content-length" else value) for name, value in headers]

    async def _misplaced_trailers(self, response: Response) -> None:
        """The trailers-without-chunked mutant: trailer fields written after content that is not chunked."""
        if self.server.mutated("trailers-without-chunked") and response.trailers is not None:
            fields = await response.trailers()
            await self.write(b"".join(name + b": " + value + b"\r\n" for name, value in fields) + b"\r\n")

    async def _send_chunks(self, conn: h11.Connection, chunks: AsyncIterable[bytes]) -> None:
        try:
            async for chunk in chunks:
                if self.eof:
                    raise ClientDisconnected
                if chunk:
                    await self.write(conn.send(h11.Data(data=chunk)))
        except ClientDisconnected:
            raise
        except Exception:
            if not self.server.mutated("error-ends-stream"):
                raise


def _head_error(head: bytes) -> int | None:
    """The status for what h11 would accept or misjudge in a request head, if any."""
    lines = head.split(b"\n")
    # RFC 9112 sections 2.2 and 5.2: a bare CR, whitespace before the first field line,
    # and obs-fold all make the message invalid; this server rejects them.
    if _BARE_CR.search(head) or any(line[:1] in (b" ", b"\t") for line in lines[1:]):
        return 400
    # RFC 9112 section 6.3: chunked not final is 400 (h11 answers any coding but chunked with 501).
    codings = [
        coding.strip(b" \t\r").lower()
        for line in lines[1:]
        if line[:18].lower() == b"transfer-encoding:"
        for coding in line[18:].split(b",")
    ]
    if codings and codings[-1] != b"chunked":
        return 400
    return None


def _content_length(event: h11.Request) -> int:
    for name, value in event.headers:
        if name == b"content-length":
            return int(value)
    return 0


class ReferenceServer:
    """Serves one application on one listening socket, with the deliberate violations ``mutations`` names."""

    def __init__(
        self, app: Application, limits: Limits | None = None, mutations: frozenset[str] = frozenset()
    ) -> None:
        unknown = sorted(mutations - MUTANTS.keys())
        if unknown:
            raise ValueError(f"unknown mutants {unknown}")
        self.app = app
        self.limits = limits = limits or Limits()
        self.mutations = mutations
        self.max_head = (limits.max_target or 65536) + (limits.max_header_bytes or 1 << 20) + 1024
        self.state: State = {}
        self.context = contextvars.copy_context()
        self.connections: set[_Connection] = set()
        self._stopping = asyncio.Event()
        self._lifespan: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None

    def mutated(self, name: str) -> bool:
        """Whether the deliberate violation ``name`` is switched on."""
        assert name in MUTANTS, f"no mutant is called {name!r}"
        return name in self.mutations

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.context = contextvars.copy_context()
        if isinstance(self.app, HasLifespan):
            started: asyncio.Future[None] = loop.create_future()
            self._lifespan = loop.create_task(self._run_lifespan(self.app, started))
            await started
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        address: tuple[str, int] = self._server.sockets[0].getsockname()[:2]
        return address

    async def _run_lifespan(self, app: HasLifespan, started: asyncio.Future[None]) -> None:
        """PYRE-LIFE-5: the lifespan is entered and exited in this one Task."""
        try:
            async with app.lifespan(SERVER_INFO, self.state):
                started.set_result(None)
                await self._stopping.wait()
        except Exception as exc:
            if started.done():
                logger.exception("lifespan shutdown failed")  # PYRE-LIFE-7
            elif self.mutated("failed-startup-serves"):
                logger.exception("lifespan startup failed; serving anyway")
                started.set_result(None)
            else:
                started.set_exception(exc)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self.connections if c.task is not None]
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._lifespan is not None:  # PYRE-LIFE-4: after the last request
            self._stopping.set()
            await self._lifespan


@asynccontextmanager
async def serve(
    app: Application, limits: Limits | None = None, mutations: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[str, int]]:
    """Run ``app`` on a loopback port for the duration of the block, with the given mutants switched on."""
    server = ReferenceServer(app, limits, mutations)
    address = await server.start()
    try:
        yield address
    finally:
        await server.stop()
