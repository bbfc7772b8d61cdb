"""A small pyre-spec server on h11: the proof that the conformance suite can be passed.

It favours being obviously right over being fast.  Each request cycle gets a
fresh ``h11.Connection``: the server first finds the request head in its own
buffer and checks what h11 is lenient about (leading empty lines, obs-fold,
bare CR, limits), then lets h11 parse the head and the body.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from email.utils import formatdate
from typing import Any

import h11

from pyre.spec import (
    EXT_EARLY_HINTS,
    REASON_PHRASES,
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
    open_file_body,
    read_to_end,
)
from pyre.spec.testing.conformance import Limits

logger = logging.getLogger("reference_server")

SERVER_INFO = ServerInfo(name="pyre-spec-reference/1.0", extensions=frozenset({EXT_EARLY_HINTS}))
READ_HIGH_WATER = 64 * 1024

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_PCHAR = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"
_ORIGIN_FORM = re.compile(rb"/" + _PCHAR + rb"*")
_ABSOLUTE_FORM = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(" + _PCHAR + rb"*)")
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")


class BadRequest(Exception):
    """The request body broke HTTP/1.1 framing; raised into the app, answered with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"malformed request body ({status})")
        self.status = status


class _Rejected(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _date() -> bytes:
    return formatdate(usegmt=True).encode()


def _error_response(status: int) -> bytes:
    reason = REASON_PHRASES[status].encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
        b"connection: close\r\ndate: %s\r\n\r\n%s" % (status, reason, len(reason), _date(), reason)
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


class _Body:
    def __init__(self, connection: _Connection, request: _Request, length: int | None) -> None:
        self._connection = connection
        self._request = request
        self._length = length
        self._done = length == 0
        self._received = 0
        if self._done:
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
        while not self._done:
            if h11_conn.they_are_waiting_for_100_continue and h11_conn.our_state is h11.SEND_RESPONSE:
                await connection.write(h11_conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            try:
                event = await connection.next_event(h11_conn)
            except h11.RemoteProtocolError as exc:
                if connection.eof:
                    raise ClientDisconnected from exc
                raise BadRequest(exc.error_status_hint) from exc
            if isinstance(event, h11.Data):
                self._received += len(event.data)
                if limit is not None and self._received > limit:
                    raise RequestBodyTooLarge(limit)
                if event.data:
                    yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                self._request.trailers = Headers(list(event.headers.raw_items()))
            else:
                raise ClientDisconnected


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
        self.client = connection.peer
        self.server = connection.local
        self.root_path = ""
        self.state: State = connection.server.state
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
        if not 100 <= status < 200 or status == 101:
            raise ValueError(f"send_interim takes a 1xx status other than 101, not {status}")
        if self.http_version == "1.0" or self.responded:
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
        self.eof = True
        self.disconnect_event.set()
        self._wake_reader()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.eof = True
        self.disconnect_event.set()
        self._wake_reader()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self.server.connections.discard(self)

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

    def reject(self, status: int) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(_error_response(status))

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
        keep_alive = await self.respond(request)
        if conn.their_state is h11.SEND_BODY and request.body.length == 0:
            conn.next_event()  # the EndOfMessage of an empty body
        if not keep_alive or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return False
        self.inbox[:0] = conn.trailing_data[0]
        return True

    def build_request(self, conn: h11.Connection, event: h11.Request, limits: Limits) -> _Request:
        version = event.http_version.decode()
        if not version.startswith("1."):
            raise _Rejected(505)
        # RFC 9110 section 2.5: a higher minor version is processed as the highest we implement.
        http_version = "1.0" if version == "1.0" else "1.1"
        if limits.max_target is not None and len(event.target) > limits.max_target:
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
        if chunked and (b"content-length" in names or http_version == "1.0"):
            # RFC 9112 section 6.1: both framings, or chunked in HTTP/1.0, is faulty framing.
            raise _Rejected(400)
        length: int | None = None
        if not chunked:
            length = _content_length(event)
            if limits.max_body is not None and length > limits.max_body:
                raise _Rejected(413)
        return _Request(self, conn, event, http_version, raw_headers, length)

    async def respond(self, request: _Request) -> bool:
        """Run the app and send its response; whether the connection may carry another request."""
        try:
            response = await self.server.app(request)
        except RequestBodyTooLarge:
            self.reject(413)
            return False
        except BadRequest as exc:
            self.reject(exc.status)
            return False
        except ClientDisconnected:
            return False
        except Exception:
            logger.exception("application error")
            self.reject(500)
            return False
        request.responded = True
        try:
            await self.send(request, response)
        except ClientDisconnected:
            return False
        except Exception:
            logger.exception("application error while sending the response")
            if self.transport is not None:
                self.transport.abort()
            return False
        return True

    async def send(self, request: _Request, response: Response) -> None:
        conn = request.h11
        status = response.status
        no_content = request.method == "HEAD" or status in (204, 304)
        headers = [(name, value) for name, value in response.headers if name != b"transfer-encoding"]
        app_length = [value for name, value in headers if name == b"content-length"]
        if status == 204:
            headers = [(name, value) for name, value in headers if name != b"content-length"]
            app_length = []
        if not any(name == b"date" for name, _ in headers):
            headers.append((b"date", _date()))
        if not any(name == b"server" for name, _ in headers):
            headers.append((b"server", SERVER_INFO.name.encode()))
        body = response.body
        chunks: AsyncIterator[bytes] | None = None
        file: FileBodyReader | None = None
        chunked = False
        try:
            if isinstance(body, bytes):
                self._set_length(headers, app_length, len(body), status)
            elif isinstance(body, FileBody):
                file = await open_file_body(body)
                self._set_length(headers, app_length, file.length, status)
            else:
                chunks = aiter(body)
                if not app_length and status != 204:
                    chunked = request.http_version == "1.1"
                    if chunked:
                        headers.append((b"transfer-encoding", b"chunked"))
            head = conn.send(h11.Response(status_code=status, headers=headers))
            if no_content:
                await self.write(head + conn.send(h11.EndOfMessage()))
            elif isinstance(body, bytes):
                await self.write(head + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            elif file is not None:
                await self.write(head)
                async for data in file:
                    await self.write(conn.send(h11.Data(data=data)))
                await self.write(conn.send(h11.EndOfMessage()))
            else:
                assert chunks is not None
                await self.write(head)
                async for chunk in chunks:
                    if self.eof:
                        raise ClientDisconnected
                    if chunk:
                        await self.write(conn.send(h11.Data(data=chunk)))
                trailers = await response.trailers() if chunked and response.trailers is not None else []
                await self.write(conn.send(h11.EndOfMessage(headers=list(trailers))))
        finally:
            if file is not None:
                await file.aclose()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    @staticmethod
    def _set_length(
        headers: list[tuple[bytes, bytes]], app_length: list[bytes], size: int, status: int
    ) -> None:
        if status == 204:
            return
        if app_length:
            if app_length != [str(size).encode()] and status != 304:
                raise ValueError(f"app content-length {app_length} for a body of {size} bytes")
            return
        headers.append((b"content-length", str(size).encode()))


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
    """Serves one application on one listening socket."""

    def __init__(self, app: Application, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits = limits or Limits()
        self.max_head = (limits.max_target or 65536) + (limits.max_header_bytes or 1 << 20) + 1024
        self.state: State = {}
        self.connections: set[_Connection] = set()
        self._stack = AsyncExitStack()
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        if isinstance(self.app, HasLifespan):
            await self._stack.enter_async_context(self.app.lifespan(SERVER_INFO, self.state))
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        address: tuple[str, int] = self._server.sockets[0].getsockname()[:2]
        return address

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
        await self._stack.aclose()


@asynccontextmanager
async def serve(app: Application, limits: Limits | None = None) -> AsyncIterator[tuple[str, int]]:
    """Run ``app`` on a loopback port for the duration of the block."""
    server = ReferenceServer(app, limits)
    address = await server.start()
    try:
        yield address
    finally:
        await server.stop()
