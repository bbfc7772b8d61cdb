"""WebSocket endpoints: ``@framework.websocket`` handlers talk to a ``WebSocket``.

::

    class Chat(framework.Blueprint):
        @framework.websocket("/ws/echo")
        async def echo(self, ws: WebSocket) -> None:
            await ws.accept()
            async for message in ws.iter_text():
                await ws.send_text(message.upper())

The opening handshake is an ordinary request; the handler runs in a task of
its own from the start, so that ``accept()`` can choose the 101 response's
subprotocol and headers while the request is still being answered.  After the
101, RFC 6455 framing is ``wsproto``'s (one codec, sans-IO) over the server's
raw upgrade stream (pyre-spec section 9).  Pings are answered while the
handler receives; a message over ``max_message`` bytes closes with 1009.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final, NoReturn

import orjson
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import LocalProtocolError, generate_accept_token

import pyre.spec

from .endpoints import Endpoint
from .exceptions import FrameworkError, RouteError
from .requests import Request

MAX_MESSAGE: Final = 1 << 20
"""The default limit on one received message, in bytes (after decompression)."""
CLOSE_TIMEOUT: Final = 5.0
"""How long the closing handshake waits for the client's Close frame, in seconds."""

NORMAL: Final = 1000
UNSUPPORTED_DATA: Final = 1003
ABNORMAL: Final = 1006
MESSAGE_TOO_BIG: Final = 1009
INTERNAL_ERROR: Final = 1011
_ENDS_ITERATION: Final = frozenset({NORMAL, 1001, 1005})
"""Close codes that end ``iter_*`` quietly: a normal close, going away, no status."""

_CONNECTING, _ACCEPTED, _DENIED, _CLOSED = 0, 1, 2, 3
"""Phases of the handshake; ``_CLOSED`` only on a server's session (the codec's state says it otherwise)."""


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that inflates no more of a message than its WebSocket's ``max_message`` allows.

    wsproto inflates each frame whole: a few kilobytes of compressed zeros become
    megabytes in memory before any limit on the message is looked at.  Here each
    frame is inflated with ``max_length`` set to what the message may still grow
    by, and a message that would pass the limit closes the connection with 1009
    at once.  (The hooks wsproto's class fills are the extension interface; the
    fields read are its own, pinned by ``wsproto>=1.2,<2``.)
    """

    def __init__(self, websocket: WebSocket) -> None:
        super().__init__()
        self._websocket = websocket  # whose max_message, read per frame: the handler may change it
        self._inflated = 0  # of the message being received

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        decompressor = self._decompressor
        assert decompressor is not None  # made by frame_inbound_header for a compressed message
        limit = self._websocket.max_message
        try:
            inflated = decompressor.decompress(bytes(data), limit - self._inflated + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        if self._inflated > limit or decompressor.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        ends_message = fin and self._inbound_is_compressible
        tail = super().frame_inbound_complete(proto, fin)
        if ends_message:
            inflated, self._inflated = self._inflated, 0
            if isinstance(tail, bytes) and inflated + len(tail) > self._websocket.max_message:
                return CloseReason.MESSAGE_TOO_BIG
        return tail


class WebSocketDisconnect(Exception):
    """The connection is closed: raised by ``receive_*`` and ``send_*`` once it is."""

    def __init__(self, code: int = NORMAL, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


def handshake_refusal(spec: pyre.spec.Request) -> pyre.spec.Response | None:
    """The response refusing ``spec`` as a WebSocket opening handshake, or None when it is one.

    Without ``Upgrade: websocket`` the resource requires an upgrade: 426 with ``Upgrade``
    (RFC 9110 section 15.5.22).  A malformed handshake is 400 and an unknown version 426 with
    ``Sec-WebSocket-Version: 13`` (RFC 6455 section 4.2.2); a server without the raw upgrade
    cannot switch at all: 501.
    """
    headers = spec.headers
    if "websocket" not in [token.strip().lower() for token in headers.get("upgrade", "").split(",")]:
        return pyre.spec.Response(
            426, [(b"upgrade", b"websocket"), (b"content-type", b"text/plain")], b"WebSocket only"
        )
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    try:
        valid_key = len(base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)) == 16
    except ValueError:
        valid_key = False
    if spec.http_version != "1.1" or "upgrade" not in connection or not valid_key:
        return pyre.spec.Response(400, [(b"content-type", b"text/plain")], b"invalid WebSocket handshake")
    if headers.get("sec-websocket-version") != "13":
        return pyre.spec.Response(426, [(b"sec-websocket-version", b"13")], b"")
    if not spec.server_info.supports(pyre.spec.EXT_UPGRADE):
        return pyre.spec.Response(501, [(b"content-type", b"text/plain")], b"this server cannot upgrade")
    return None


class WebSocket(Request):
    """One WebSocket connection as its handler sees it; also the handshake ``Request``
    (``headers``, ``path_params``, ``query``, ``cookies``, ``url``, ``app``)."""

    __slots__ = (
        "max_message",
        "_phase",
        "_answer",
        "_stream",
        "_connection",
        "_close_code",
        "_close_reason",
        "_server_session",
    )

    def __init__(
        self,
        spec_request: pyre.spec.Request,
        *,
        app: Any = None,
        max_message: int = MAX_MESSAGE,
        session: pyre.spec.WebSocketSession | None = None,
    ) -> None:
        super().__init__(spec_request, app=app)
        self.max_message = max_message
        self._phase = _CONNECTING
        loop = asyncio.get_running_loop()
        self._answer: asyncio.Future[list[tuple[bytes, bytes]]] = loop.create_future()
        """The 101 response's headers once the handler accepts."""
        self._stream: asyncio.Future[pyre.spec.ByteStream] = loop.create_future()
        """The connection, once the server has sent the 101 and handed it over."""
        self._connection = Connection(ConnectionType.SERVER)
        self._close_code = ABNORMAL
        self._close_reason = ""
        self._server_session = session
        """The server's ``pyre.websocket`` session: then the server does the framing, not wsproto."""

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offers, in its order of preference."""
        return _tokens(self.headers.get_all("sec-websocket-protocol"))

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closing or closed, else None."""
        session = self._server_session
        if session is not None:
            return self._close_code if self._phase == _CLOSED else session.close_code
        return self._close_code if self._connection.state is not ConnectionState.OPEN else None

    # -- the handshake ------------------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer the handshake with 101, choosing one of ``subprotocols`` (or none); returns once the
        connection is open."""
        if self._phase != _CONNECTING:
            raise FrameworkError("accept() after the handshake was answered")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise FrameworkError(f"the client did not offer the subprotocol {subprotocol!r}")
        extra = [(name.encode("latin-1").lower(), value.encode("latin-1")) for name, value in headers]
        if self._server_session is not None:
            await self._server_session.accept(subprotocol, extra)
            self._phase = _ACCEPTED
            return
        key = self.headers.get("sec-websocket-key", "").encode("ascii")
        answer = [
            (b"upgrade", b"websocket"),
            (b"connection", b"upgrade"),
            (b"sec-websocket-accept", generate_accept_token(key)),
        ]
        if subprotocol is not None:
            answer.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
        deflate = BoundedDeflate(self)
        agreed = server_extensions_handshake(
            _tokens(self.headers.get_all("sec-websocket-extensions")), [deflate]
        )
        if agreed is not None:
            answer.append((b"sec-websocket-extensions", agreed))
            self._connection = Connection(ConnectionType.SERVER, extensions=[deflate])
        answer.extend(extra)
        self._phase = _ACCEPTED
        self._answer.set_result(answer)
        await asyncio.shield(self._stream)

    # -- receiving ----------------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message; raises ``WebSocketDisconnect`` once the connection is closed."""
        if self._server_session is not None:
            return await self._receive_from(self._server_session)
        stream = self._open_stream()
        parts: list[Any] = []
        size = 0
        while True:
            for event in self._connection.events():
                if isinstance(event, Message):
                    parts.append(event.data)
                    size += len(event.data)
                    if size > self.max_message:
                        await self._fail(MESSAGE_TOO_BIG, "message too big")
                    if event.message_finished:
                        return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
                elif isinstance(event, Ping):
                    await self._write(event.response())
                elif isinstance(event, CloseConnection):
                    if self._connection.state is ConnectionState.OPEN:
                        await self._fail_connection(event)
                    await self._closed_by_client(event)
            if self._connection.state is ConnectionState.CLOSED:
                raise WebSocketDisconnect(self._close_code, self._close_reason)
            data = await stream.read()
            self._connection.receive_data(data or None)

    async def _receive_from(self, session: pyre.spec.WebSocketSession) -> str | bytes:
        if self._phase == _CONNECTING:
            raise FrameworkError("the WebSocket is not accepted yet")
        message = await session.receive()
        if message is None:
            code = session.close_code
            raise WebSocketDisconnect(1005 if code is None else code, session.close_reason)
        # A str is at most 4 bytes a character: encode only one that might be over the limit.
        if len(message) > self.max_message or (
            isinstance(message, str)
            and len(message) * 4 > self.max_message
            and len(message.encode()) > self.max_message
        ):
            await self._fail(MESSAGE_TOO_BIG, "message too big")
        return message

    async def receive_text(self) -> str:
        message = await self.receive()
        if not isinstance(message, str):
            await self._fail(UNSUPPORTED_DATA, "text expected")
        return message

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        if not isinstance(message, bytes):
            await self._fail(UNSUPPORTED_DATA, "binary expected")
        return message

    async def receive_json(self) -> Any:
        """A text or binary message parsed as JSON; invalid JSON closes with 1007."""
        message = await self.receive()
        try:
            return orjson.loads(message)
        except orjson.JSONDecodeError:
            await self._fail(1007, "invalid JSON")

    def iter_text(self) -> AsyncIterator[str]:
        """Text messages until a normal close (1000, 1001 or none given); other closes raise."""
        return self._iterate(self.receive_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        return self._iterate(self.receive_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        return self._iterate(self.receive_json)

    # -- sending ------------------------------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        await self._send(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(bytes(data))

    async def send_json(self, data: Any) -> None:
        """``data`` as JSON in a text message."""
        await self._send(orjson.dumps(data).decode())

    async def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Start the closing handshake; before ``accept()``, refuse the handshake with 403."""
        if self._phase == _CONNECTING:
            self._phase = _DENIED
            return
        session = self._server_session
        if session is not None:
            if self._phase == _ACCEPTED and session.close_code is None:
                self._phase, self._close_code, self._close_reason = _CLOSED, code, reason
                await session.close(code, reason)
            return
        if self._connection.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._close_code, self._close_reason = code, reason
            await self._write(CloseConnection(code=code, reason=reason))

    # -- the connection -----------------------------------------------------------------------------

    def _open_stream(self) -> pyre.spec.ByteStream:
        if self._phase != _ACCEPTED or not self._stream.done():
            raise FrameworkError("the WebSocket is not accepted yet")
        return self._stream.result()

    async def _send(self, message: str | bytes) -> None:
        session = self._server_session
        if session is None:
            self._open_stream()
            if self._connection.state is not ConnectionState.OPEN:
                raise WebSocketDisconnect(self._close_code, self._close_reason)
            event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
            await self._write(event)
            return
        if self._phase == _CONNECTING:
            raise FrameworkError("the WebSocket is not accepted yet")
        if self._phase == _CLOSED:
            raise WebSocketDisconnect(self._close_code, self._close_reason)
        try:
            await session.send(message)
        except pyre.spec.ClientDisconnected:
            code = session.close_code
            raise WebSocketDisconnect(ABNORMAL if code is None else code, session.close_reason) from None

    async def _write(self, event: Event) -> None:
        try:
            await self._stream.result().write(self._connection.send(event))
        except pyre.spec.ClientDisconnected:
            self._close_code = ABNORMAL
            raise WebSocketDisconnect(ABNORMAL) from None

    async def _closed_by_client(self, event: CloseConnection) -> None:
        if self._connection.state is ConnectionState.REMOTE_CLOSING:
            self._close_code, self._close_reason = event.code, event.reason or ""
            with contextlib.suppress(WebSocketDisconnect):
                await self._write(event.response())

    async def _fail(self, code: int, reason: str) -> NoReturn:
        """Close with ``code`` because of what the client sent, and raise ``WebSocketDisconnect``."""
        with contextlib.suppress(WebSocketDisconnect, LocalProtocolError):
            await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    async def _fail_connection(self, event: CloseConnection) -> NoReturn:
        """No Close frame came: this is how wsproto reports a frame that breaks RFC 6455.  Fail the
        connection (section 7.1.7): tell the client why, and wait for no closing handshake."""
        reason = event.reason or ""
        with contextlib.suppress(WebSocketDisconnect):
            await self.close(event.code, reason)
        self._connection.receive_data(None)
        raise WebSocketDisconnect(event.code, reason)

    async def _iterate(self, receive: Callable[[], Awaitable[Any]]) -> AsyncIterator[Any]:
        while True:
            try:
                message = await receive()
            except WebSocketDisconnect as disconnect:
                if disconnect.code in _ENDS_ITERATION:
                    return
                raise
            yield message

    async def serve(self, handler: Awaitable[Any]) -> pyre.spec.Response:
        """Run ``handler`` (the endpoint's coroutine) until it accepts, and answer the handshake:
        101 with the connection for the handler, or 403 when it returned or closed before accepting.

        On a server's session the handler is simply awaited: the server answers the handshake when
        it accepts, and ignores the response returned after that (spec section 9.5)."""
        if self._server_session is not None:
            return await self._serve_session(handler)
        task = asyncio.ensure_future(handler)
        try:
            await asyncio.wait((task, self._answer), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if self._answer.done():
            return pyre.spec.Response(
                101, self._answer.result(), upgrade=lambda stream: self._run(stream, task)
            )
        task.result()  # what the handler raised before accepting answers the handshake
        return _refused()

    async def _serve_session(self, handler: Awaitable[Any]) -> pyre.spec.Response:
        try:
            await handler
        except WebSocketDisconnect:
            pass
        except BaseException:
            if self._phase == _ACCEPTED:
                with contextlib.suppress(pyre.spec.ClientDisconnected):
                    await self.close(INTERNAL_ERROR)
            raise
        if self._phase == _CONNECTING or self._phase == _DENIED:
            return _refused()
        await self.close(NORMAL)
        return pyre.spec.Response(200)

    async def _run(self, stream: pyre.spec.ByteStream, task: asyncio.Future[Any]) -> None:
        """The upgrade handler: the connection is the handler's until it returns, then close it."""
        self._stream.set_result(stream)
        try:
            await task
        except WebSocketDisconnect:
            pass
        except BaseException:
            await self._finish(INTERNAL_ERROR, stream)
            raise
        await self._finish(NORMAL, stream)

    async def _finish(self, code: int, stream: pyre.spec.ByteStream) -> None:
        """Finish the closing handshake, whoever started it, then drop the connection."""
        try:
            await self.close(code)
            async with asyncio.timeout(CLOSE_TIMEOUT):
                while self._connection.state is ConnectionState.LOCAL_CLOSING:
                    await self.receive()
        except (WebSocketDisconnect, TimeoutError, LocalProtocolError):
            pass
        finally:
            await stream.close()


class WebSocketEndpoint(Endpoint):
    """An endpoint whose handler takes a ``WebSocket``: the handshake is checked, the parameters
    bound, then the handler runs until it accepts (``WebSocket.serve``).  Blueprint hooks and
    middleware are HTTP's: they do not run here; app middleware sees the handshake and the 101."""

    def prepare(self) -> None:
        if not self.is_async:
            raise RouteError(f"{self.name}: a WebSocket handler must be a coroutine function")
        if self.plan.scoped:
            raise RouteError(f"{self.name}: a WebSocket handler takes no Depends or BackgroundTasks (yet)")
        super().prepare()

    async def respond(
        self, spec: pyre.spec.Request, request: Request | None, values: list[Any]
    ) -> pyre.spec.Response:
        session: Any = None
        if spec.server_info.supports(pyre.spec.EXT_WEBSOCKET):
            session = spec.extensions.get(pyre.spec.EXT_WEBSOCKET)
        if session is None:
            refusal = handshake_refusal(spec)
            if refusal is not None:
                return refusal
        ws = WebSocket(spec, app=self.app, session=session)
        if request is not None and hasattr(request, "_session"):
            ws._session = request._session
        ws.path_params = dict(zip(self.path_names, values, strict=True))
        try:
            args, kwargs = await self.plan.bind(ws)
            return await ws.serve(self.call(*args, **kwargs))
        except Exception as exc:
            if ws._phase != _CONNECTING and ws._phase != _DENIED:
                raise  # after accept it is no HTTP error: the server logs it (PYRE-ERR-5)
            return await self.app._handle_error(exc, spec, ws)


def _refused() -> pyre.spec.Response:
    return pyre.spec.Response(403, [(b"content-type", b"text/plain")], b"WebSocket refused")


def _tokens(values: Iterable[str]) -> list[str]:
    return [token.strip() for value in values for token in value.split(",") if token.strip()]


__all__ = [
    "CLOSE_TIMEOUT",
    "MAX_MESSAGE",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketEndpoint",
    "handshake_refusal",
]
