"""The asyncio transport of an HTTP/2 connection (RFC 9113), framed by the ``h2`` library.

``h2`` is the sans-IO part: bytes in, events out, frames to send.  This module
turns its events into the same ``HttpRequest`` an app gets on HTTP/1.1 (each
stream's ``Channel`` is an ``H2Stream``), runs each stream's app in a
``RequestTask`` of its own, and sends the answers as frames, within the
client's flow-control windows.

What differs from HTTP/1.1, and where it is decided:

- request head: pseudo-header fields map to method, target, authority
  (``_request``); ``:authority`` is the Host (h2 refuses a request with both
  that disagree, RFC 9113 section 8.3.1, as a connection error);
- request body: the windows are opened only as the app reads (``acknowledge``);
- response head: the fields HTTP/2 forbids (RFC 9113 section 8.2.2:
  Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade) are
  dropped with a warning; the rest is checked as on HTTP/1.1 (``_response``);
- trailers are a HEADERS frame that ends the stream;
- what a hostile client repeats is counted (``_h2_limits``) and the connection
  is cut off with GOAWAY ENHANCE_YOUR_CALM;
- shutdown sends GOAWAY with the last stream taken; those finish, later ones
  are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from pyre.spec import ClientDisconnected, RawHeaders, RequestBodyTooLarge, Response, is_token

from . import _http11 as rules
from ._config import Config
from ._h2_limits import WINDOW, FloodCounter
from ._h2_stream import H2Stream
from ._http11 import Framing
from ._protocol import WRITE_HIGH_WATER, WRITE_LOW_WATER, _address, _family, open_content
from ._request import HttpBody, HttpRequest
from ._response import (
    CONNECTION,
    CONTENT_LENGTH,
    DATE,
    SERVER,
    TRANSFER_ENCODING,
    InvalidResponse,
    as_status,
    check_fields,
    declared_length,
    header_line,
    status_line,
)
from ._shared import Shared
from ._task import RequestTask

logger = logging.getLogger("pyre.server")
access_logger = logging.getLogger("pyre.server.access")

# The client preface (RFC 9113 section 3.4) a prior-knowledge h2c connection starts with.
PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 section 8.2.2: fields that are about one connection; an HTTP/2 message has none.
CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)

# The connection's receive window: request content all streams together may have
# waiting for their apps (each stream's own is the default 65,535 octets).
CONNECTION_WINDOW: Final = 1024 * 1024
_DEFAULT_WINDOW: Final = 65535

# h2 checks what arrives; what is sent is checked here, as on HTTP/1.1, once.
_H2_CONFIG: Final = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
    validate_inbound_headers=True,
    normalize_inbound_headers=True,
)

_STATUS_VALUES: Final = {status: b"%d" % status for status in range(100, 600)}
_NO_STREAM_LIMIT: Final = 2**31 - 1
# Streams started between two looks at the write buffer (_start_pending).
_START_BATCH: Final = 16


def _local_settings(config: Config, max_streams: int) -> h2.settings.Settings:
    return h2.settings.Settings(
        client=False,
        initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: config.limit_header_size,
            h2.settings.SettingCodes.HEADER_TABLE_SIZE: config.h2_header_table_size,
        },
    )


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection: its streams, their apps, and the limits on its client."""

    def __init__(self, shared: Shared) -> None:
        config = shared.config
        self.shared = shared
        self.config = config
        self.loop = shared.loop
        self.h2 = h2.connection.H2Connection(config=_H2_CONFIG)
        self.h2.local_settings = _local_settings(config, config.h2_max_concurrent_streams)
        # h2 takes initial values as in force already, so its HPACK decoder is told itself.
        self.h2.decoder.max_header_list_size = config.limit_header_size
        self.h2.decoder.max_allowed_table_size = config.h2_header_table_size
        self.request_type = shared.request_type
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.tls_extensions: Mapping[str, object] | None = None
        self.closed = False
        self.streams: dict[int, H2Stream] = {}
        self.running = 0  # streams whose app (or response) runs, reset ones too
        self.pending: deque[H2Stream] = deque()  # opened, to start once the input is read
        self.deadline = 0.0
        self.batching = False
        self.write_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.draining = False
        self.goaway_sent = False
        self.upgraded = False  # Upgrade: h2c, stream 1 the HTTP/1.1 request
        self.last_stream_id = 0
        self.resets = FloodCounter(config.h2_max_resets)
        self.control_frames = FloodCounter(config.h2_max_control_frames)
        self.body_waits: dict[H2Stream, float] = {}  # timeout_body, per stream
        self.window_waits: dict[H2Stream, float] = {}  # timeout_send, per stream
        self.write_stall = 0.0  # timeout_send of the transport's buffer
        self.access_log = config.access_log
        # What _server_head adds to a response, renewed with the Date line.
        self._date_line = b""
        self._date_fields: list[tuple[bytes, bytes]] = []
        self._server_fields: list[tuple[bytes, bytes]] = []
        self._server_field = [(b"server", shared.server_line[8:-2])] if shared.server_line else []
        self._extra_fields = [
            (name.lower().encode("ascii"), value.strip().encode("latin-1")) for name, value in config.headers
        ]

    # Upgrade: h2c (_h2_select.upgrade_to_h2c)

    def prepare_upgrade(self, settings: bytes) -> bool:
        """``Upgrade: h2c``: the client's HTTP2-Settings (RFC 7540 section 3.2); whether they are valid."""
        try:
            self.h2.initiate_upgrade_connection(settings)
        except (ValueError, h2.exceptions.H2Error):  # binascii.Error is a ValueError
            return False
        self.upgraded = True
        return True

    def take_upgraded(self, request: HttpRequest) -> None:
        """The HTTP/1.1 request of an upgrade is stream 1, its client side closed, answered in HTTP/2."""
        fields = [(b":method", request.method.encode("ascii")), (b":path", request.target)]
        if request.authority is not None:
            fields.append((b":authority", request.authority.encode("latin-1")))
        for name, value in request.headers.raw:
            name = name.lower()
            if name not in CONNECTION_SPECIFIC and name not in (b"host", b"http2-settings"):
                fields.append((name, value))
        stream = H2Stream(self, 1)
        stream.ended = True
        self.streams[1] = stream
        self.last_stream_id = 1
        problem = self._request(stream, fields)
        if problem is not None:
            self._error(stream, *problem)
            self._stream_closed(stream)
            return
        self._start(stream)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self.client = _address(transport.get_extra_info("peername"))
        self.local = _address(transport.get_extra_info("sockname"))
        shared = self.shared
        proxies = shared.proxies
        if proxies is not None and proxies.trusts_peer(self.client, _family(transport)):
            self.request_type = shared.forwarded_request_type
        if shared.tls is not None:
            self.tls_extensions = shared.tls.session_extensions(transport.get_extra_info("ssl_object"))
        shared.connections.add(self)
        if not self.upgraded:
            self.h2.initiate_connection()
        # The SETTINGS sent advertise h2_max_concurrent_streams; h2 would make a stream
        # beyond it a connection error, where RFC 9113 section 5.1.2 has a stream error:
        # _open refuses it (REFUSED_STREAM), so h2 is given no limit of its own.
        self.h2.local_settings = _local_settings(self.config, _NO_STREAM_LIMIT)
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self._flush()
        self.deadline = shared.now + self.config.timeout_keep_alive
        if shared.draining:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            # h2 has queued a GOAWAY with the error's code (PROTOCOL_ERROR, COMPRESSION_ERROR...).
            logger.info("HTTP/2 protocol error from %s: %s", _peer(self.client), error)
            self._close()
            return
        self.batching = True
        for event in events:
            kind = type(event)
            if kind is h2.events.RequestReceived:
                self._open(event)  # type: ignore[arg-type]
            elif kind is h2.events.DataReceived:
                self._data(event)  # type: ignore[arg-type]
            elif kind is h2.events.StreamEnded:
                self._ended(event.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.TrailersReceived:
                self._trailers(event)  # type: ignore[arg-type]
            elif kind is h2.events.StreamReset:
                self._reset(event)  # type: ignore[arg-type]
            elif kind is h2.events.WindowUpdated:
                self._window_updated(event.stream_id)  # type: ignore[attr-defined]
            elif kind is h2.events.RemoteSettingsChanged:
                self._control_frame("SETTINGS")
                self._window_updated(0)  # the initial window may have changed
            elif kind is h2.events.PingReceived:
                self._control_frame("PING")
            elif kind is h2.events.ConnectionTerminated:  # the client's GOAWAY: no more streams
                self.draining = True
            if self.closed or self.transport is None or self.transport.is_closing():
                break
        # Streams start once the whole input is read: a stream reset in the same read
        # never runs its app (rapid reset).
        self._start_pending()
        self.batching = False
        self._flush()
        if self.draining and self.running == 0 and not self.pending:
            self._close()

    def _start_pending(self) -> None:
        """Start the streams opened, while the client reads what is written.

        Each HEADERS frame can be a few bytes and its answer many: once the write
        buffer is full, the rest wait (and reading stops) until it drains, so a
        client that sends requests and reads nothing pins no more than that.
        """
        pending = self.pending
        started = 0
        while pending and not self.write_paused and not self.closed:
            stream = pending.popleft()
            if stream.closed:
                continue
            self._start(stream)
            started += 1
            if started % _START_BATCH == 0:
                self._flush()  # the write that would pause writing, if the client does not read

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline = 0.0
        shared = self.shared
        shared.connections.discard(self)
        shared.stalled.pop(self, None)
        if not shared.connections:
            shared.all_closed.set()
        for stream in list(self.streams.values()):
            stream.reset()
        self._wake_drain()

    def pause_writing(self) -> None:
        # Reading stops too: what the client sends would only be answered into the buffer.
        self.write_paused = True
        self.write_stall = self.shared.now + self.config.timeout_send
        self._update_stalled()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_stall = 0.0
        self._update_stalled()
        self._wake_drain()
        self._start_pending()
        self._flush()
        if not self.write_paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # Streams arriving

    def _open(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        if self.goaway_sent:  # RFC 9113 section 6.8: after GOAWAY, later streams are not processed
            self._reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self.last_stream_id = stream_id
        if self.running + len(self.pending) >= self.config.h2_max_concurrent_streams:
            # Streams the client reset whose apps still run count too: work never piles up.
            self._reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self._count_reset()
            return
        stream = H2Stream(self, stream_id)
        self.streams[stream_id] = stream
        stream.ended = event.stream_ended is not None
        problem = self._request(stream, event.headers or [])
        if problem is not None:
            status, reason = problem
            self._error(stream, status, reason)
            self._stream_closed(stream)
            return
        self.pending.append(stream)

    def _request(self, stream: H2Stream, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        """Make the stream's request; what is wrong with its head (status, reason) if it cannot."""
        config = self.config
        method = path = authority = host = None
        fields: list[tuple[bytes, bytes]] = []
        field_limit = config.limit_header_field_size
        expects_continue = False
        length: int | None = None
        for name, value in headers:  # h2 has checked their order, names and pseudo-fields
            if name[:1] == b":":
                if name == b":method":
                    method = value
                elif name == b":path":
                    path = value
                elif name == b":authority":
                    authority = value
                continue
            if field_limit is not None and len(name) + len(value) > field_limit:
                return 431, "a header field is too large"
            if name == b"host":
                host = value
            elif name == b"expect":
                expects_continue = value.lower() == b"100-continue"
            elif name == b"content-length":
                if not value.isdigit():
                    return 400, "invalid content-length"
                length = int(value)
            fields.append((name, value))
        if len(fields) > config.limit_header_count:
            return 431, "too many header fields"
        if method is None or not is_token(method):
            return 400, "invalid method"
        if method == b"CONNECT":
            return 501, "CONNECT is not supported"
        if path is None or not (path[:1] == b"/" or (path == b"*" and method == b"OPTIONS")):
            return 400, "invalid :path"
        if len(path) > config.limit_request_line:
            return 414, "request-target too long"
        if authority is not None and host is None:
            # Apps (and frameworks) read the host from the fields, as an HTTP/1.1
            # intermediary would construct it (RFC 9113 section 8.3.1).
            fields.insert(0, (b"host", authority))
        authority = authority if authority is not None else host
        raw_path, _, query = path.partition(b"?")
        request = self.request_type(
            stream,
            method.decode("ascii"),
            path,
            "2",
            raw_path,
            query,
            authority.decode("latin-1") if authority is not None else None,
            fields,
            True,
        )
        if not stream.ended:
            request.body = HttpBody(stream, length)
            request.expects_continue = expects_continue
        stream.request = request
        return None

    def _data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        data = event.data or b""
        stream = self.streams.get(stream_id)
        padding = (event.flow_controlled_length or 0) - len(data)
        body = stream.request.body if stream is not None and stream.request is not None else None
        if not isinstance(body, HttpBody) or stream is None:
            self.h2.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
            return
        if padding:
            self.h2.acknowledge_received_data(padding, stream_id)
        if not data:  # an empty DATA frame (RFC 9113 section 6.1); an empty chunk would end the body
            return
        body.feed(data, self.config.limit_body_size)
        if body.discarding or body.error is not None:
            self.acknowledge(stream)

    def _ended(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.ended = True
        request = stream.request
        if request is not None and isinstance(request.body, HttpBody):
            request.body.end()
        if stream.done:
            self._stream_closed(stream)

    def _trailers(self, event: h2.events.TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is None or stream.request is None or not isinstance(stream.request.body, HttpBody):
            return
        body = stream.request.body
        for name, value in event.headers or ():
            body.add_trailer(name, value)

    def _reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.pop(event.stream_id or 0, None)
        if event.remote_reset:
            self._count_reset()
        if stream is not None:
            stream.done = True
            stream.reset()
            self.body_waits.pop(stream, None)
            if self.window_waits.pop(stream, None) is not None:
                self._update_stalled()

    def _window_updated(self, stream_id: int) -> None:
        if stream_id == 0:
            for each in self.streams.values():
                each.wake_writer()
            return
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.wake_writer()

    # Limits

    def _count_reset(self) -> None:
        if self.resets.exceeded(self.shared.now):
            self._calm_down("streams reset or refused")

    def _control_frame(self, kind: str) -> None:
        if self.control_frames.exceeded(self.shared.now):
            self._calm_down(f"{kind} frames")

    def _calm_down(self, what: str) -> None:
        """A client that floods the connection: GOAWAY ENHANCE_YOUR_CALM, and close."""
        if self.closed or (self.transport is not None and self.transport.is_closing()):
            return
        logger.warning(
            "Closing the HTTP/2 connection from %s: too many %s within %s s",
            _peer(self.client),
            what,
            WINDOW,
        )
        self.h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM, last_stream_id=self.last_stream_id)
        for stream in list(self.streams.values()):
            stream.reset()
        self._close()

    # Running the app

    def _start(self, stream: H2Stream) -> None:
        request = stream.request
        assert request is not None
        shared = self.shared
        if shared.in_flight >= shared.concurrency_limit:
            request.response_started = True
            request.status = 503
            self._error(stream, 503, "too many requests in progress")
            if self.access_log:
                _log_access(request)
            self._stream_closed(stream)
            return
        shared.in_flight += 1
        shared.requests += 1
        self.running += 1
        self.deadline = 0.0
        task = stream.task = RequestTask(self.loop, shared.context.copy(), stream.app_returned)
        task.run(shared.app, request)

    def app_returned(self, stream: H2Stream, response: Any, error: BaseException | None) -> None:
        request = stream.request
        assert request is not None
        if request.response_started:  # answered by the server already (408)
            _log_error(request, error)
            if self.access_log:
                _log_access(request)
            self._done(stream)
            return
        if error is None:
            try:
                complete = self._respond(stream, response)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as failure:
                error = failure
            else:
                if complete:
                    self._finished(stream)
                return
        self._app_failed(stream, error)

    def _respond(self, stream: H2Stream, response: Response) -> bool:
        """Send a plain response at once (whether it is complete), else go on streaming it."""
        if not isinstance(response, Response):
            raise InvalidResponse(f"the application returned {response!r:.100}, not a pyre.spec.Response")
        status = response.status
        if type(status) is not int:
            status = as_status(status)
        if status == 101 or response.upgrade is not None:
            raise InvalidResponse("101 for a request that did not ask to upgrade (HTTP/2 has no upgrade)")
        request = stream.request
        assert request is not None
        assert stream.task is not None
        body = response.body
        if type(body) is bytes and response.trailers is None and not stream.closed:
            framing = rules.response_framing(request.method, status, "1.1", len(body), False)
            sid = stream.stream_id
            if framing != Framing.FIXED or not body:
                fields = self._head(request, status, response.headers, len(body), framing)
                request.response_started = True
                request.status = status
                self.h2.send_headers(sid, fields, end_stream=True)
                self._written()
                return True
            if len(body) <= min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size):
                fields = self._head(request, status, response.headers, len(body), framing)
                request.response_started = True
                request.status = status
                self.h2.send_headers(sid, fields)
                self.h2.send_data(sid, body, end_stream=True)
                self._written()
                return True
        stream.task.continue_with(self._stream(stream, response), stream.streamed)
        return False

    def _head(
        self, request: Any, status: int, headers: RawHeaders, length: int | None, framing: Framing
    ) -> list[tuple[bytes, bytes]]:
        """The HEADERS of a final response: the app's fields checked as on HTTP/1.1."""
        status_line(status)  # 100 to 599
        if status < 200:
            raise InvalidResponse(f"status {status} is not a final response")
        check_fields(headers, "headers")
        fields = [(b":status", _STATUS_VALUES[status])]
        app_length = None
        with_date = with_server = True
        for pair in headers:
            _, kind = header_line(pair)
            if kind:
                if kind == CONTENT_LENGTH:
                    app_length = pair[1]
                    continue
                if kind in (TRANSFER_ENCODING, CONNECTION):
                    _dropped(request, pair[0])
                    continue
                if kind == DATE:
                    with_date = False
                elif kind == SERVER:
                    with_server = False
            elif pair[0] in CONNECTION_SPECIFIC:
                _dropped(request, pair[0])
                continue
            fields.append(pair)
        if app_length is not None:
            declared = declared_length(headers)  # once, 1*DIGIT
            if framing == Framing.FIXED and declared != length:
                logger.warning(
                    "The response to %s %s declares content-length %s but has %d bytes; sent with %d",
                    request.method,
                    request.target.decode("latin-1"),
                    declared,
                    length,
                    length,
                )
        fields.extend(self._server_head(with_date, with_server))
        if framing == Framing.FIXED:
            assert length is not None
            fields.append((b"content-length", b"%d" % length))
        elif framing == Framing.NO_CONTENT and status != 204:
            # RFC 9110 sections 9.3.2 and 15.4.5: HEAD, or a 304, may say the length the content would have.
            if app_length is not None:
                fields.append((b"content-length", app_length))
            elif length is not None and request.method == "HEAD" and status != 304:
                fields.append((b"content-length", b"%d" % length))
        return fields

    def _server_head(self, with_date: bool, with_server: bool) -> list[tuple[bytes, bytes]]:
        """Date, Server and the operator's fields, as HTTP/1.1 sends them (each where the app has none)."""
        shared = self.shared
        if shared.date is not self._date_line:  # once a second
            self._date_line = shared.date
            self._date_fields = [(b"date", shared.date[6:-2])] if shared.date else []
            self._server_fields = [*self._date_fields, *self._server_field, *self._extra_fields]
        if with_date and with_server:
            return self._server_fields
        return [
            *(self._date_fields if with_date else ()),
            *(self._server_field if with_server else ()),
            *self._extra_fields,
        ]

    async def _stream(self, stream: H2Stream, response: Response) -> None:
        """Send content that is not a plain ``bytes`` small enough, or that has trailers."""
        status, headers, _, trailers, content, length = await open_content(self.loop, response)
        request = stream.request
        assert request is not None
        sid = stream.stream_id
        try:
            framing = rules.response_framing(request.method, status, "1.1", length, False)
            fields = self._head(request, status, headers, length, framing)
            if stream.closed:
                raise ClientDisconnected
            request.status = status
            request.response_started = True
            if framing == Framing.NO_CONTENT:
                self.h2.send_headers(sid, fields, end_stream=True)
                self._written()
                return
            # The HEADERS wait for the first content: a failure before it is still a 500.
            head: list[tuple[bytes, bytes]] | None = fields
            sent = 0
            try:
                if isinstance(content, bytes):
                    self.h2.send_headers(sid, fields)
                    head = None
                    await self._send_data(stream, content)
                    sent = len(content)
                else:
                    async for data in content:
                        if type(data) is not bytes and not isinstance(data, bytes):
                            raise InvalidResponse(f"the response body yielded {data!r:.100}, not bytes")
                        if not data:
                            continue
                        sent += len(data)
                        if length is not None and sent > length:
                            raise InvalidResponse("response content is longer than its content-length")
                        if head is not None:
                            self.h2.send_headers(sid, head)
                            head = None
                        await self._send_data(stream, data)
                if length is not None and sent != length:
                    raise InvalidResponse("response content is shorter than its content-length")
            except Exception:
                if head is not None:
                    request.response_started = False
                raise
            if head is not None:
                self.h2.send_headers(sid, head)
            if trailers is not None:
                fields = _checked_fields(await trailers(), "trailers")
                if stream.closed:
                    raise ClientDisconnected
                self.h2.send_headers(sid, fields, end_stream=True)
            else:
                self.h2.end_stream(sid)
            self._written()
        finally:
            close = getattr(content, "aclose", None)
            if close is not None:
                await close()

    async def _send_data(self, stream: H2Stream, data: bytes) -> None:
        """DATA frames within the client's windows; waits for WINDOW_UPDATE (timeout_send)."""
        sid = stream.stream_id
        h2_connection = self.h2
        while data:
            if stream.closed or self.closed:
                raise ClientDisconnected
            window = h2_connection.local_flow_control_window(sid)
            if window <= 0:
                self._flush()
                await self._wait_window(stream)
                continue
            size = min(window, h2_connection.max_outbound_frame_size)
            if size >= len(data):
                h2_connection.send_data(sid, data)
                data = b""
            else:
                h2_connection.send_data(sid, data[:size])
                data = data[size:]
            self._written()
            if self.write_paused:
                await self.drain(stream)

    async def _wait_window(self, stream: H2Stream) -> None:
        waiter = stream.window_waiter = self.loop.create_future()
        self.window_waits[stream] = self.shared.now + self.config.timeout_send
        self._update_stalled()
        try:
            await waiter
        finally:
            if self.window_waits.pop(stream, None) is not None:
                self._update_stalled()

    def streamed(self, stream: H2Stream, error: BaseException | None) -> None:
        if error is not None:
            self._app_failed(stream, error)
        else:
            self._finished(stream)

    def _app_failed(self, stream: H2Stream, error: BaseException) -> None:
        """Before the response started: 413 or 500.  After: RST_STREAM INTERNAL_ERROR."""
        request = stream.request
        assert request is not None
        if self.closed or stream.closed:  # no one to answer
            _log_error(request, error)
            self._done(stream)
            return
        if request.response_started:
            _log_error(request, error)
            if self.access_log:
                _log_access(request, aborted=True)
            self._reset_stream(stream.stream_id, ErrorCodes.INTERNAL_ERROR)
            stream.reset()
            self._done(stream)
            return
        request.response_started = True
        if isinstance(error, RequestBodyTooLarge):
            request.status = 413
            self._error(stream, 413, "request body too large")
        else:
            _log_error(request, error)
            request.status = 500
            self._error(stream, 500, "the application failed")
        self._finished(stream)

    def _finished(self, stream: H2Stream) -> None:
        request = stream.request
        assert request is not None
        if self.access_log:
            _log_access(request)
        self._done(stream)

    def _done(self, stream: H2Stream) -> None:
        """The stream's app is done: its slot, its unread content, the connection's idle clock."""
        self.shared.in_flight -= 1
        self.running -= 1
        stream.task = None
        self.body_waits.pop(stream, None)
        self._stream_closed(stream)
        if self.running == 0 and not self.pending and not self.closed:
            if self.draining:
                self._close()
                return
            self.deadline = self.shared.now + self.config.timeout_keep_alive
        elif self.body_waits:
            self._update_deadline()
        self._written()

    def _stream_closed(self, stream: H2Stream) -> None:
        """The response is complete: the client may still be sending content, which is not wanted."""
        stream.done = True
        request = stream.request
        if request is not None and isinstance(request.body, HttpBody):
            request.body.discard()
            self.acknowledge(stream)
        if not stream.ended and not stream.closed:
            # RFC 9113 section 8.1: a complete response, then RST_STREAM NO_ERROR.
            self._reset_stream(stream.stream_id, ErrorCodes.NO_ERROR)
            stream.closed = True
        if stream.ended or stream.closed:
            self.streams.pop(stream.stream_id, None)

    # Output

    def _error(self, stream: H2Stream, status: int, reason: str) -> None:
        """A plain-text error response on one stream (``_response.error_response``'s content)."""
        content = f"{status_line(status)[13:-2].decode()}: {reason}\n".encode()
        fields = [(b":status", _STATUS_VALUES[status]), *self._server_head(True, False)]
        if status == 503:
            fields.append((b"retry-after", b"1"))
        fields.append((b"content-type", b"text/plain; charset=utf-8"))
        sid = stream.stream_id
        if self.h2.local_flow_control_window(sid) >= len(content):
            fields.append((b"content-length", b"%d" % len(content)))
            self.h2.send_headers(sid, fields)
            self.h2.send_data(sid, content, end_stream=True)
        else:  # the client's window is shut: the status says it all
            self.h2.send_headers(sid, fields, end_stream=True)
        self._written()

    def _reset_stream(self, stream_id: int, code: ErrorCodes) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            self.h2.reset_stream(stream_id, code)

    def _written(self) -> None:
        """Frames were queued: out now, unless a batch of input is being answered."""
        if not self.batching:
            self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _goaway(self) -> None:
        """GOAWAY NO_ERROR with the last stream taken, outside h2's state machine, which
        would then take no more frames: the streams before it go on (RFC 9113 section 6.8)."""
        self._flush()
        self.goaway_sent = True
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.last_stream_id
        frame.error_code = ErrorCodes.NO_ERROR
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame.serialize())

    async def drain(self, stream: H2Stream) -> None:
        """Wait until the transport's buffer is under its low-water mark again."""
        self._flush()
        if self.write_paused and not self.closed:
            waiter = self.loop.create_future()
            self.drain_waiters.append(waiter)
            await waiter
        if self.closed or stream.closed:
            raise ClientDisconnected

    def _wake_drain(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _update_stalled(self) -> None:
        """timeout_send: the earliest of the transport's and the streams' waits."""
        deadlines = [*self.window_waits.values()]
        if self.write_stall:
            deadlines.append(self.write_stall)
        if deadlines and not self.closed:
            self.shared.stalled[self] = min(deadlines)
        else:
            self.shared.stalled.pop(self, None)

    def _update_deadline(self) -> None:
        if self.running:
            self.deadline = min(self.body_waits.values()) if self.body_waits else 0.0

    # The Channel of each H2Stream

    def acknowledge(self, stream: H2Stream) -> None:
        """What the app has read (or what is dropped) goes back to the client's windows."""
        request = stream.request
        body = request.body if request is not None else None
        if not isinstance(body, HttpBody):
            return
        taken = body.received - body.buffered - stream.acked
        if taken > 0:
            stream.acked += taken
            self.h2.acknowledge_received_data(taken, stream.stream_id)
            self._written()

    def send_continue(self, stream: H2Stream) -> None:
        self.h2.send_headers(stream.stream_id, [(b":status", b"100")])
        self._written()

    def send_interim(self, stream: H2Stream, status: int, headers: RawHeaders) -> None:
        fields = _checked_fields(headers, "fields")
        self.h2.send_headers(stream.stream_id, [(b":status", _STATUS_VALUES[status]), *fields])
        self._written()

    def waiting_for_body(self, stream: H2Stream, waiting: bool) -> None:
        if waiting:
            self.body_waits[stream] = self.shared.now + self.config.timeout_body
        else:
            self.body_waits.pop(stream, None)
        self._update_deadline()

    # Used by the server

    def timed_out(self) -> None:
        self.deadline = 0.0
        if self.closed:
            return
        if self.running == 0 and not self.pending:  # idle: timeout_keep_alive
            self.h2.close_connection(ErrorCodes.NO_ERROR, last_stream_id=self.last_stream_id)
            self._close()
            return
        now = self.shared.now
        for stream, due in list(self.body_waits.items()):
            if due > now:
                continue
            del self.body_waits[stream]
            request = stream.request
            if request is not None and not request.response_started and not stream.closed:
                request.response_started = True
                request.status = 408
                self._error(stream, 408, "request body not received in time")
            self._stream_closed(stream)
            stream.reset()
        self._update_deadline()
        self._flush()

    def send_timed_out(self) -> None:
        """timeout_send: the connection (its buffer full) or streams (their windows shut) are stuck."""
        now = self.shared.now
        if self.write_stall and self.write_stall <= now:
            logger.warning(
                "Closing the connection from %s: the client has not read the response for %s s",
                _peer(self.client),
                self.config.timeout_send,
            )
            self.shared.stalled.pop(self, None)
            self.abort()
            return
        for stream, due in list(self.window_waits.items()):
            if due <= now:
                logger.warning(
                    "Resetting HTTP/2 stream %d from %s: its flow-control window stayed shut for %s s",
                    stream.stream_id,
                    _peer(self.client),
                    self.config.timeout_send,
                )
                del self.window_waits[stream]
                self._reset_stream(stream.stream_id, ErrorCodes.CANCEL)
                stream.reset()
        self._update_stalled()
        self._flush()

    def shutdown(self) -> None:
        """Graceful stop: GOAWAY; the streams taken finish, later ones are refused."""
        if self.closed or (self.draining and self.goaway_sent):
            return
        self.draining = True
        self._goaway()
        if self.running == 0 and not self.pending:
            self._close()

    def cancel(self) -> None:
        """Drain time is over: cancel every app; 503 where nothing was sent, else RST_STREAM."""
        for stream in list(self.streams.values()):
            if stream.task is not None:
                stream.task.cancel("server shutting down")
            request = stream.request
            if stream.closed or request is None:
                continue
            if not request.response_started:
                request.response_started = True
                request.status = 503
                self._error(stream, 503, "the server is shutting down")
            else:
                self._reset_stream(stream.stream_id, ErrorCodes.CANCEL)
            logger.warning(
                "Cancelled %s %s at the drain timeout", request.method, request.target.decode("latin-1")
            )
            stream.reset()
        self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _checked_fields(headers: RawHeaders, what: str) -> list[tuple[bytes, bytes]]:
    """Trailer or interim fields: checked as on HTTP/1.1, framing and connection fields refused."""
    check_fields(headers, what)
    fields = []
    for pair in headers:
        _, kind = header_line(pair)
        if kind in (CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION) or pair[0] in CONNECTION_SPECIFIC:
            raise InvalidResponse(f"{pair[0]!r} is not allowed here")
        fields.append(pair)
    return fields


def _dropped(request: Any, name: bytes) -> None:
    logger.warning(
        "Dropped the %s field of the response to %s %s: HTTP/2 has no connection-specific fields",
        name.decode("latin-1"),
        request.method,
        request.target.decode("latin-1"),
    )


def _log_access(request: Any, aborted: bool = False) -> None:
    client = request.client
    access_logger.info(
        '%s - "%s %s HTTP/2" %d (aborted)' if aborted else '%s - "%s %s HTTP/2" %d',
        _peer(client),
        request.method,
        request.target.decode("latin-1"),
        request.status,
    )


def _log_error(request: Any, error: BaseException | None) -> None:
    if error is None or isinstance(error, ClientDisconnected | asyncio.CancelledError):
        return
    answering = f"{request.method} {request.target.decode('latin-1')}"
    if isinstance(error, InvalidResponse):
        logger.error("Invalid response from the application to %s: %s", answering, error)
    else:
        logger.error("Exception in application answering %s", answering, exc_info=error)


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"
