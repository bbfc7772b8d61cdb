"""The asyncio transport of an HTTP/1.1 connection: the core's bytes in, the app's answers out.

``HttpConnection`` is the asyncio protocol.  It hands what arrives to its
sans-IO ``Core`` (``_core``), and once ``feed`` returns it starts the requests
the core queued, strictly in order (RFC 9112 section 9.3.2: "A server MAY
process a sequence of pipelined requests in parallel if they all have safe
methods, but it MUST send the corresponding responses in the same order that
the requests were received"): the next one starts only when the previous
response is complete.  An app runs in a ``RequestTask`` (``_task``), which
needs no asyncio Task unless the handler waits.

The rest is this layer's: output batching (while a batch of input is answered,
responses collect in ``out`` and go to the socket in one write), flow control
both ways, lingering close, the deadline of each phase, draining, the
concurrency limit, and the access and error logs.

Where a connection is, and so which timeout applies to it:

==================  =========================  ===================
state               detected by                deadline
==================  =========================  ===================
idle                core phase IDLE            timeout_keep_alive
receiving a head    core phase HEAD            timeout_header
app waits for body  ``body_wait``              timeout_body, and more
                                               for content received
                                               (limit_body_rate)
app running         ``current`` set            none
write buffer full   ``write_paused``           timeout_send (a
                                               clock of its own)
closing, lingering  ``lingering``              LINGER_TIMEOUT
==================  =========================  ===================

Why this module is over 600 lines: it is one class, the asyncio.Protocol.  Its
answering half (running the app, writing the response) and its connection half
(flow control, closing, timeouts) read and write the same two dozen fields of
the same connection in both directions; split into two classes, each would
declare the other's fields again, or reach into them.  What did not need that
state went out: the parsing to ``_core``, the rules to ``_http11``, the bytes
to ``_response``, what connections share to ``_shared``.

Compiled by mypyc in the compiled build: see ``hatch_build.py`` for what that rules out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from pyre.spec import (
    ClientDisconnected,
    FileBody,
    RawHeaders,
    RequestBodyTooLarge,
    Response,
    UpgradeHandler,
)

from . import _http11 as rules
from ._core import Core
from ._files import file_chunks
from ._http11 import Framing, Rejection
from ._request import HttpBody, HttpRequest
from ._response import (
    CONTINUE,
    LAST_CHUNK,
    InvalidResponse,
    as_status,
    chunk,
    declared_length,
    error_response,
    interim_response,
    last_chunk,
    response_head,
)
from ._shared import Shared
from ._state import BODY, CLOSED, HEAD, HELD, IDLE
from ._task import RequestTask
from ._upgrade import UpgradeStream

logger = logging.getLogger("pyre.server")
access_logger = logging.getLogger("pyre.server.access")

# Stop reading from a socket while this much request body waits for the app.
READ_HIGH_WATER: Final = 256 * 1024
# The transport's write buffer: past the high-water mark a streaming response waits
# (drain) until it is back under the low one.  Set explicitly, so that the bound on what
# a client that stops reading can pin does not depend on the event loop's defaults.
WRITE_HIGH_WATER: Final = 64 * 1024
WRITE_LOW_WATER: Final = 16 * 1024
# Stop reading while this many pipelined requests wait for their turn.
MAX_QUEUED_REQUESTS: Final = 16

# Closing the connection once the output batch is written: not, at once, or lingering.
NO_CLOSE, CLOSE, LINGER = range(3)
LINGER_TIMEOUT: Final = 2.0
# Draining: how long a connection accepted just before may take to begin its first request.
FIRST_REQUEST_GRACE: Final = 1.0
# limit_concurrency: at most one warning about refused requests in this many seconds.
BUSY_WARNING_INTERVAL: Final = 10.0

# SO_LINGER on, with a zero timeout: closing the socket resets the connection.
_LINGER_OFF: Final = struct.pack("ii", 1, 0)


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "shared",
        "config",
        "loop",
        "core",
        "transport",
        "client",
        "local",
        "closed",
        "current",
        "task",
        "out",
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
        "lingering",
        "tls_extensions",
    )

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.config = shared.config
        self.loop = shared.loop
        self.core = Core(shared.config, self, shared.request_type, shared.header_check)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.closed = False
        self.current: HttpRequest | None = None  # the request being answered
        self.task: RequestTask | None = None  # its handler, then its response stream
        self.out: list[bytes] | None = None  # the output batch, while one collects
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
        self.lingering = False
        self.tls_extensions: Mapping[str, object] | None = None  # the same for each request

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self.client = _address(transport.get_extra_info("peername"))
        self.local = _address(transport.get_extra_info("sockname"))
        proxies = self.shared.proxies
        if proxies is not None:
            # Only a peer without an address and port (a Unix socket's) needs its family:
            # uvloop makes an enum of it each time it is read (some 4,500 instructions).
            family = _family(transport) if self.client is None else -1
            if proxies.trusts_peer(self.client, family):
                self.core.request_type = self.shared.forwarded_request_type
        tls = self.shared.tls
        if tls is not None:  # on TLS, this is called once the handshake is done
            self.tls_extensions = tls.session_extensions(transport.get_extra_info("ssl_object"))
        self.shared.connections.add(self)
        self.deadline = self.shared.now + self.config.timeout_keep_alive
        if self.shared.draining:  # accepted just before the listener closed
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        core = self.core
        if core.phase >= HELD:  # held for an upgrade, switched, or reading no more
            if self.stream is not None:
                self.stream.received(data)
            elif core.phase is HELD:
                core.hold(data)
            else:
                return  # RFC 9112 section 9.6: nothing after "close" is processed
            self._update_reading()
            return
        out: list[bytes] = []
        self.out = out
        core.feed(data)
        if core.noted:
            self._took_input()
        if self.current is None and not self.closed:
            self._answer(False)
        self.out = None
        if out or self.pending_close:
            self._flush(out)
        if self.reading_paused or core.queue or core.receiving is not None or core.held is not None:
            self._update_reading()

    def eof_received(self) -> bool:
        if self.stream is None:
            return False
        self.stream.eof = True  # read() returns b"" while write() still works
        self.stream.wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline = 0.0
        self.shared.connections.discard(self)
        self.shared.stalled.pop(self, None)
        if not self.shared.connections:
            self.shared.all_closed.set()
        self.core.lost()
        current = self.current
        if current is not None and isinstance(current.body, HttpBody):
            current.body.fail(ClientDisconnected())
        self._wake_writer()
        if self.stream is not None:
            self.stream.wake()
        for waiter in self.close_waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        self.close_waiters = None

    def pause_writing(self) -> None:
        self.write_paused = True
        self.shared.stalled[self] = self.shared.now + self.config.timeout_send

    def resume_writing(self) -> None:
        self.write_paused = False
        self.shared.stalled.pop(self, None)
        self._wake_writer()

    # Running the app

    def _start(self, request: HttpRequest) -> None:
        shared = self.shared
        if request.upgrade_requested and self.config.h2c:  # HTTP/2: Upgrade: h2c
            from ._h2_select import upgrade_to_h2c  # (it imports this module)

            if upgrade_to_h2c(self, request):
                return
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
                assert self.out is not None
                self._end_batch(self.out)
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
        # From here on, bytes from the client are for the new protocol (after what is still to
        # come of the request's content, if the app switched before it all came: PYRE-UPG-9).
        core = self.core
        skipped = core.skipped
        self.stream = UpgradeStream(self, core.switch(), skipped)
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
                shared.draining and not self.core.queue and self.core.refusal is None,
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
        status, headers, declared, trailers, content, length = await open_content(self.loop, response)
        chunks = _Single(content) if isinstance(content, bytes) else content
        try:
            version = request.http_version
            with_trailers = trailers is not None and declared is None
            framing = rules.response_framing(request.method, status, version, length, with_trailers)
            head, keep_alive = self._head(request, status, headers, length, framing)
            request.status = status
            request.response_started = True
            self._write(head)  # goes out when the stream first waits: _respond batches until then
            if framing != Framing.NO_CONTENT:
                await self._send_content(request, chunks, framing, length, head)
                if framing == Framing.CHUNKED:
                    # Pyre spec PYRE-RESP-15: trailers are asked for only when they can be sent.
                    self._write(LAST_CHUNK if trailers is None else last_chunk(await trailers()))
        except BaseException:
            # Not a finally: compiled by mypyc, an await in one leaves the exception set as
            # the one being handled, the __context__ of every exception raised after it.
            await _release(chunks)
            raise
        await _release(chunks)
        return keep_alive

    async def _send_content(
        self,
        request: HttpRequest,
        chunks: AsyncIterator[object],
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
        if self.core.receiving is request:  # its content is still arriving: skip it
            body = request.body
            assert isinstance(body, HttpBody)
            body.discard()
        self._done()

    def _done(self) -> None:
        self.shared.in_flight -= 1
        self.current = None
        self.task = None
        if self.out is None:  # answered after its batch: the connection goes on from here
            out: list[bytes] = []
            self.out = out
            self._end_batch(out)
            self._update_reading()

    # Driving the connection.  Whoever opens an output batch answers what is queued
    # before writing it (_end_batch): requests run only there, never inside a parser
    # callback, and never inside one another.

    def _took_input(self) -> None:
        """What a feed of the core noted, for timeouts and closing."""
        core = self.core
        core.noted = False
        if core.began:  # a head goes on in the next batch: its clock runs from here
            core.began = False
            if self.current is None and core.phase is HEAD:
                self.deadline = self.shared.now + self.config.timeout_header
        if core.content_began:
            core.content_began = False
            self.body_credit = self.config.timeout_body
        if core.content_received:
            # Content pays for time spent waiting on it, at limit_body_rate, up to
            # timeout_body banked: a trickle runs out, a steady slow client does not.
            paid = core.content_received * self.shared.seconds_per_body_byte
            core.content_received = 0
            if self.body_wait or self.current is None:  # a body deadline is running: extend it
                if self.deadline:
                    self.deadline = min(self.deadline + paid, self.shared.now + self.config.timeout_body)
            else:
                self.body_credit = min(self.body_credit + paid, self.config.timeout_body)
        if core.close_asked:
            core.close_asked = False
            self._close(linger=True)
        failed = core.failed
        if failed is not None:  # malformed content of the request answered, or being answered
            core.failed = None
            request, rejection = failed
            if not request.response_started:  # answered now; the app's answer is dropped
                request.response_started = True
                request.status = rejection.status  # for the access log, once the app returns
                self._write(self._error(rejection.status, rejection.reason))
            self._close(linger=True)

    def _end_batch(self, out: list[bytes]) -> None:
        """A response has completed: answer what is queued, then write the batch (and close, if due)."""
        if self.current is None and not self.closed:
            self._answer(True)
        self.out = None
        if out or self.pending_close:
            self._flush(out)

    def _answer(self, answered: bool) -> None:
        """Start queued requests, in order, while none is being answered.

        RFC 9112 section 9.3.2: responses go "in the same order that the requests
        were received".  ``answered``: a response has just completed.
        """
        core = self.core
        queue = core.queue
        while self.current is None and not self.closed:
            if queue:
                if self.draining:
                    self._refuse_queue()
                    return
                self._start(queue.popleft())
                answered = True
            elif core.refusal is not None:
                self._reject(core.refusal)
                return
            elif core.phase is HELD and self.stream is None:
                # The app declined an Upgrade: what followed is the next requests.
                core.resume()
                if core.noted:
                    self._took_input()
            else:
                break
        if answered and self.current is None and not self.closed:
            if core.phase is IDLE and not self.reading_paused:  # the common case, inline
                self.deadline = self.shared.now + self.config.timeout_keep_alive
            else:
                self._settle()

    def _reject(self, rejection: Rejection) -> None:
        """The answer that ends the connection: input it cannot trust the framing of.

        A request whose content is malformed is answered for the app, which still
        runs (pyre spec PYRE-BODY-16) and finds its content failed; what it answers
        is dropped, as when the content fails while it runs.
        """
        request = rejection.request
        shared = self.shared
        if request is not None and shared.in_flight >= shared.concurrency_limit:
            self._refuse_busy(request)
            return
        self._write(self._error(rejection.status, rejection.reason))
        self._close(linger=True)
        if request is not None:
            request.response_started = True
            request.status = rejection.status  # for the access log, once the app returns
            self._start(request)

    def _settle(self) -> None:
        """No request is being answered: close if nothing more is read, else which timeout runs."""
        phase = self.core.phase
        if phase is CLOSED:
            self._close()
            return
        if phase is HEAD:
            self.deadline = self.shared.now + self.config.timeout_header
        elif phase is BODY:  # content of an answered request, being skipped
            self.deadline = self.shared.now + self.config.timeout_body
        else:
            self.deadline = self.shared.now + self.config.timeout_keep_alive
        if self.reading_paused:
            self._update_reading()

    def _refuse_queue(self) -> None:
        """Shutting down: each request waiting its turn is answered 503 instead of run."""
        core = self.core
        queue = core.queue
        while queue and not self.closed:
            item = queue.popleft()
            item.response_started = True
            item.status = 503
            # Only the last answer says close: the client reads every one before it.
            last = not queue and core.refusal is None
            self._write(self._error(503, "the server is shutting down", close=last))
            target = item.target.decode("latin-1")
            logger.info("Refused %s %s: the server is shutting down", item.method, target)
            if self.access_log:
                self._log_access(item)
        if core.refusal is not None and not self.closed:
            self._write(self._error(core.refusal.status, core.refusal.reason))
        self._close()

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
        if self.core.stop():  # content was still arriving: whatever else arrives is discarded
            linger = True
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
        return error_response(status, reason, self.shared.date + self.shared.extra_lines, close=close)

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
        core = self.core
        receiving = core.receiving
        body = receiving.body if receiving is not None else None
        held = self.stream.buffer if self.stream is not None else core.held
        should_pause = (
            len(core.queue) >= MAX_QUEUED_REQUESTS
            or (held is not None and len(held) > READ_HIGH_WATER)
            or (isinstance(body, HttpBody) and (body.buffered > READ_HIGH_WATER or body.error is not None))
        )
        if should_pause:
            self._pause_reading()
        elif self.reading_paused and not self.closed and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    # The Channel of HttpRequest, HttpBody and UpgradeStream (_channel)

    def consumed(self) -> None:
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

    def send(self, data: bytes) -> None:
        self._write(data)

    def end_upgrade(self) -> None:
        self._close()

    async def send_interim(self, request: HttpRequest, status: int, headers: RawHeaders) -> None:
        if request is not self.current or self.closed:
            raise ClientDisconnected
        self._write(interim_response(status, headers))
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
            if self.core.phase is HEAD:
                # RFC 9110 section 15.5.9: 408 "the server did not receive a complete
                # request message within the time that it was prepared to wait".
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
        core = self.core
        if self.closed or core.phase is CLOSED:
            return
        if self.current is None and core.untouched():
            self.deadline = min(self.deadline, self.shared.now + FIRST_REQUEST_GRACE)
            return
        self.draining = core.draining = True
        if self.current is None:
            if core.phase is HEAD:  # a request still arriving
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
            self.core.queue.clear()
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


async def open_content(
    loop: asyncio.AbstractEventLoop, response: Response
) -> tuple[int, RawHeaders, int | None, Any, bytes | AsyncIterator[object], int | None]:
    """A response to stream, checked before its content is opened: its status, headers,
    declared content-length and trailers, its content (the body if ``bytes``, else its
    chunks) and the content's length if known.  What the chunks yield is checked as they come.
    """
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
    if isinstance(body, bytes):
        return status, headers, declared, trailers, body, len(body)
    if isinstance(body, FileBody):
        chunks, length = await file_chunks(loop, body)
        return status, headers, declared, trailers, chunks, length
    if hasattr(body, "__aiter__"):
        return status, headers, declared, trailers, aiter(body), declared
    raise InvalidResponse(f"body {body!r:.100} is not bytes, a FileBody or an async iterable")


async def _release(body: object) -> None:
    """Close an unsent body's descriptor (a FileBody's, if the app opened it) or iterator."""
    if isinstance(body, FileBody):
        if body.fd is not None:
            os.close(body.fd)
        return
    close = getattr(body, "aclose", None)
    if close is not None:
        await close()


class _Single:
    """``data`` as an async iterator of one chunk.  (A class: mypyc compiles no async generator.)"""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data: bytes | None = data

    def __aiter__(self) -> _Single:
        return self

    async def __anext__(self) -> bytes:
        data, self.data = self.data, None
        if data is None:
            raise StopAsyncIteration
        return data
