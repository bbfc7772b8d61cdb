"""ASGI WebSocket scopes over a pyre-spec protocol upgrade (RFC 6455).

The opening handshake is an HTTP request that the ASGI app answers with
``websocket.accept`` (101 Switching Protocols, then ``Response.upgrade`` runs
on the raw ``ByteStream``), ``websocket.close`` (403) or, with the
``websocket.http.response`` extension, any HTTP response.  After the upgrade
this module is the WebSocket endpoint: ``wsproto`` (the codebase's one RFC 6455
codec, sans-IO) parses frames (section 5), reassembles fragmented messages and
checks UTF-8; this module answers pings, limits message size and carries out
the closing handshake (section 7).  The app's coroutine keeps running in the
server's task, stepped by ``drive`` as for HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from pyre.spec import EXT_TLS, ByteStream, ClientDisconnected, Request, Response

from ._errors import ASGIClientDisconnected, ASGIProtocolError
from ._messages import body_bytes, final_status, header_pairs
from ._paths import asgi_paths
from ._stepping import AppStepper, drive
from ._tls import asgi_tls
from ._types import ASGI_VERSION, HTTP_SPEC_VERSION, ASGIApp, Message

# RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key for Sec-WebSocket-Accept.
GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE: Final = 16 * 1024 * 1024
CLOSE_TIMEOUT: Final = 5.0

# Close codes (section 7.4.1).
NORMAL: Final = 1000
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006
TOO_BIG: Final = 1009
INTERNAL_ERROR: Final = 1011

# Where the session is.
CONNECTING: Final = 0  # the app has not answered the handshake
DENYING: Final = 1  # the app is sending an HTTP response instead (websocket.http.response)
ACCEPTED: Final = 2  # accepted; the server has not handed over the connection yet
OPEN: Final = 3
CLOSED: Final = 4

GOAL_ANSWER: Final = 0  # the app accepted, closed or finished a denial response
GOAL_FINISH: Final = 1


def is_websocket_request(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a GET request with ``headers`` (names lowercased) asks to upgrade to WebSocket
    (section 4.2.1, items 1, 3 and 4)."""
    for name, value in headers:
        if name == b"upgrade":
            return value.strip().lower() == b"websocket"
    return False


def accept_key(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for ``key`` (section 4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def handshake_error(request: Request) -> Response | None:
    """The response refusing a malformed opening handshake, or None when it is well formed."""
    headers = request.headers
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    key = headers.get("sec-websocket-key", "")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid_key = False
    if request.http_version == "1.0" or "upgrade" not in connection or not valid_key:
        return Response(400, [(b"content-type", b"text/plain")], b"invalid WebSocket handshake")
    if headers.get("sec-websocket-version") != "13":
        # Section 4.4: say which version this server speaks.
        return Response(426, [(b"sec-websocket-version", b"13")], b"")
    return None


class FrameError(Exception):
    """The client broke RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def websocket_scope(request: Request, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    protocols = request.headers.get_all("sec-websocket-protocol")
    root_path = request.root_path
    path, raw_path = asgi_paths(request, root_path) if root_path else (request.path, request.raw_path)
    extensions: dict[str, object] = {"websocket.http.response": {}}
    session = request.extensions.get(EXT_TLS)
    if isinstance(session, Mapping):  # one WebSocket per connection: built once for it
        extensions["tls"] = asgi_tls(session)
    return {
        "type": "websocket",
        "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
        "http_version": request.http_version,
        "scheme": "wss" if request.scheme == "https" else "ws",
        "path": path,
        "raw_path": raw_path,
        "query_string": request.query,
        "root_path": root_path,
        "headers": headers,
        "client": request.client,
        "server": request.server,
        "subprotocols": [p.strip() for value in protocols for p in value.split(",") if p.strip()],
        "state": dict(request.state),
        "extensions": extensions,
    }


async def serve_websocket(
    app: ASGIApp, request: Request, headers: list[tuple[bytes, bytes]], max_size: int = MAX_MESSAGE
) -> Response:
    """Run ``app`` on the WebSocket handshake ``request``: the handshake's answer for the server.

    A message larger than ``max_size`` bytes closes the connection with 1009 (section 7.4.1).
    """
    refusal = handshake_error(request)
    if refusal is not None:
        return refusal
    session = WebSocketSession(request, max_size)
    session.coro = app(websocket_scope(request, headers), session.receive, session.send).__await__()
    await drive(session, GOAL_ANSWER)
    return session.answer()


class WebSocketSession(AppStepper):
    """One WebSocket connection: the ASGI app's ``receive``/``send`` over RFC 6455 frames."""

    __slots__ = (
        "request",
        "phase",
        "connected",
        "accept_headers",
        "status",
        "http_headers",
        "parts",
        "settled",
        "stream",
        "connection",
        "close_code",
        "close_reason",
        "sent_close",
        "max_size",
    )

    def __init__(self, request: Request, max_size: int) -> None:
        super().__init__()
        self.request = request
        self.max_size = max_size
        self.phase = CONNECTING
        self.connected = False
        self.accept_headers: list[tuple[bytes, bytes]] = []
        self.status = 403
        self.http_headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []
        self.settled: asyncio.Future[None] | None = None
        """Done once the handshake is settled: the connection open, or never to be."""
        self.stream: ByteStream | None = None
        self.connection = Connection(ConnectionType.SERVER)
        self.close_code = ABNORMAL
        self.close_reason = ""
        self.sent_close = False

    def reached(self, goal: int) -> bool:
        return goal == GOAL_ANSWER and self.phase != CONNECTING and self.phase != DENYING

    # -- the handshake ------------------------------------------------------------------------------

    def answer(self) -> Response:
        if self.phase == ACCEPTED:
            return Response(101, self.accept_headers, upgrade=self.run)
        if self.phase == CONNECTING:
            what = "answering" if self.finished else "answering before receiving"
            raise ASGIProtocolError(f"the ASGI application returned without {what} the WebSocket handshake")
        return Response(self.status, self.http_headers, b"".join(self.parts))

    def _accept(self, message: Message) -> None:
        key = self.request.headers.get("sec-websocket-key", "").encode()
        headers = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_key(key)),
        ]
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            headers.append((b"sec-websocket-protocol", subprotocol.encode()))
        headers.extend(header_pairs(message.get("headers", ()), "websocket.accept"))
        self.accept_headers = headers
        self.phase = ACCEPTED

    async def run(self, stream: ByteStream) -> None:
        """``Response.upgrade``: be the WebSocket endpoint until the app and the closing handshake end."""
        self.stream = stream
        self.phase = OPEN
        self._settle()
        try:
            await drive(self, GOAL_FINISH)
        except BaseException:
            await self._close_quietly(INTERNAL_ERROR)
            raise
        await self._close_quietly(NORMAL)

    async def _close_quietly(self, code: int) -> None:
        """Finish the closing handshake (section 7.1.2) whoever started it, then drop the connection."""
        stream = self.stream
        assert stream is not None
        try:
            if not self.sent_close:
                await self._write_close(code, "")
            if self.phase != CLOSED:
                await asyncio.wait_for(self._until_peer_closes(), CLOSE_TIMEOUT)
        except (ClientDisconnected, OSError, TimeoutError, EOFError, FrameError):
            pass
        finally:
            self.phase = CLOSED
            await stream.close()

    async def _until_peer_closes(self) -> None:
        while True:
            if isinstance(await self._event(), CloseConnection):
                return

    # -- the app's side -----------------------------------------------------------------------------

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.phase < OPEN:
            # ASGI lets an app receive again before it answers (Quart reads in a task of its
            # own): "receive" waits for the next event, and no frame comes before the accept.
            await self._settled()
        if self.phase != OPEN:
            return self._disconnect_message()
        try:
            return await self._next_message()
        except EOFError:
            self.phase = CLOSED
        except ClientDisconnected:
            self.phase = CLOSED
        except FrameError as error:
            await self._fail(error.code, error.reason)
        return self._disconnect_message()

    def _disconnect_message(self) -> Message:
        return {"type": "websocket.disconnect", "code": self.close_code, "reason": self.close_reason}

    async def _event(self) -> Event:
        """The client's next WebSocket event, reading the stream as wsproto needs; ``EOFError`` at its end."""
        assert self.stream is not None
        connection = self.connection
        while True:
            for event in connection.events():
                return event
            data = await self.stream.read()
            if not data:
                raise EOFError
            connection.receive_data(data)

    async def _next_message(self) -> Message:
        assert self.stream is not None
        parts: list[Any] = []
        size = 0
        while True:
            event = await self._event()
            if isinstance(event, Ping):
                await self.stream.write(self.connection.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.connection.state is ConnectionState.OPEN:
                    # No Close frame came: this is how wsproto reports a frame that breaks RFC 6455.
                    raise FrameError(event.code, event.reason or "")
                self.close_code, self.close_reason = event.code, event.reason or ""
                if not self.sent_close:
                    # Section 5.5.1: answer a Close with a Close, echoing the code.
                    await self._write_close(event.code, "")
                self.phase = CLOSED
                return self._disconnect_message()
            elif isinstance(event, (TextMessage, BytesMessage)):
                size += len(event.data)
                if size > self.max_size:
                    raise FrameError(TOO_BIG, "message too big")
                parts.append(event.data)
                if event.message_finished:
                    if isinstance(event, BytesMessage):
                        return {"type": "websocket.receive", "bytes": b"".join(parts), "text": None}
                    return {"type": "websocket.receive", "bytes": None, "text": "".join(parts)}

    async def _fail(self, code: int, reason: str) -> None:
        """Section 7.1.7: fail the connection, telling the client why when possible."""
        self.close_code, self.close_reason = code, reason
        try:
            if not self.sent_close:
                await self._write_close(code, reason)
        except (ClientDisconnected, OSError):
            pass
        self.phase = CLOSED

    async def send(self, message: Message) -> None:
        kind = message["type"]
        phase = self.phase
        if phase == CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
                self._answered()
                return
            if kind == "websocket.close":
                self.phase = CLOSED
                self._answered()
                return
            if kind == "websocket.http.response.start":
                self.status = final_status(message.get("status"), kind)
                self.http_headers = header_pairs(message.get("headers", ()), kind)
                self.phase = DENYING
                return
        elif phase == DENYING and kind == "websocket.http.response.body":
            self.parts.append(body_bytes(message.get("body", b""), kind))
            if not message.get("more_body", False):
                self.phase = CLOSED
                self._answered()
            return
        if phase == ACCEPTED:
            await self._settled()
            phase = self.phase
        if phase == OPEN and not self.sent_close:
            if kind == "websocket.send":
                text = message.get("text")
                if text is not None:
                    await self._write(self.connection.send(TextMessage(data=text)))
                else:
                    data = message.get("bytes")
                    if type(data) is not bytes:
                        data = body_bytes(data, kind)
                    await self._write(self.connection.send(BytesMessage(data=data)))
                return
            if kind == "websocket.close":
                await self._write_close(message.get("code", NORMAL), message.get("reason") or "")
                return
        if phase == CLOSED or self.sent_close:
            raise ASGIClientDisconnected("the WebSocket is closed")
        raise ASGIProtocolError(f"unexpected ASGI message {kind!r} in a WebSocket scope")

    def _answered(self) -> None:
        """The app answered the handshake, perhaps from a task of its own: the server takes it on."""
        if self.phase == CLOSED:
            self._settle()  # no connection will be handed over: a waiting receive() gets the disconnect
        if not self.stepping:
            self.wake_driver()

    async def _settled(self) -> None:
        """Wait until the server has handed over the connection after the 101, or it never will."""
        if self.settled is None:
            self.settled = asyncio.get_running_loop().create_future()
        await self.settled

    def _settle(self) -> None:
        settled = self.settled
        if settled is not None and not settled.done():
            settled.set_result(None)

    async def _write(self, frame: bytes) -> None:
        assert self.stream is not None
        try:
            await self.stream.write(frame)
        except ClientDisconnected:
            self.phase = CLOSED
            raise ASGIClientDisconnected("the client disconnected") from None

    async def _write_close(self, code: int, reason: str) -> None:
        self.sent_close = True
        # wsproto sends no code for "no status" (section 7.1.5) when given its own constant.
        closing = CloseReason.NO_STATUS_RCVD if code == NO_STATUS else code
        await self._write(self.connection.send(CloseConnection(code=closing, reason=reason)))
