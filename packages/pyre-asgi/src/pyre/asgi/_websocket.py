"""ASGI WebSocket scopes over a pyre-spec protocol upgrade (RFC 6455).

The opening handshake is an HTTP request that the ASGI app answers with
``websocket.accept`` (101 Switching Protocols, then ``Response.upgrade`` runs
on the raw ``ByteStream``), ``websocket.close`` (403) or, with the
``websocket.http.response`` extension, any HTTP response.  After the upgrade
this module is the WebSocket endpoint: it reads frames (section 5), answers
pings, reassembles fragmented messages, checks UTF-8, and carries out the
closing handshake (section 7).  The app's coroutine keeps running in the
server's task, stepped by ``drive`` as for HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Mapping
from typing import Any, Final

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

# Opcodes (section 5.2).
CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

# Close codes (section 7.4.1).
NORMAL: Final = 1000
PROTOCOL_ERROR: Final = 1002
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006
INVALID_DATA: Final = 1007
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


def is_websocket_request(request: Request, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether ``request`` asks to upgrade to WebSocket (section 4.2.1, items 1, 3 and 4)."""
    if request.method != "GET":
        return False
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


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame: a server never masks (section 5.1)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


def encode_close(code: int, reason: str = "") -> bytes:
    if code == NO_STATUS:
        return encode_frame(CLOSE, b"")
    return encode_frame(CLOSE, struct.pack("!H", code) + reason.encode()[:123])


def unmask(payload: bytes, mask: bytes) -> bytes:
    """Section 5.3: octet i of the payload is XORed with octet i MOD 4 of the masking key."""
    if not payload:
        return payload
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


class FrameError(Exception):
    """The client broke RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameReader:
    """Frames from the client's side of a ByteStream (section 5.2)."""

    def __init__(self, stream: ByteStream, max_size: int) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.max_size = max_size

    async def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = await self.stream.read()
            if not data:
                raise EOFError
            self.buffer += data
        taken = bytes(self.buffer[:count])
        del self.buffer[:count]
        return taken

    async def frame(self) -> tuple[bool, int, bytes]:
        """``(fin, opcode, payload)`` of the next frame, unmasked."""
        first, second = await self._take(2)
        fin = bool(first & 0x80)
        if first & 0x70:
            raise FrameError(PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
        opcode = first & 0x0F
        if not second & 0x80:
            raise FrameError(PROTOCOL_ERROR, "client frames must be masked")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._take(8))
        if opcode >= CLOSE and (length > 125 or not fin):
            raise FrameError(PROTOCOL_ERROR, "control frames are short and not fragmented")
        if length > self.max_size:
            raise FrameError(TOO_BIG, "message too big")
        mask = await self._take(4)
        return fin, opcode, unmask(await self._take(length), mask)


def parse_close(payload: bytes) -> tuple[int, str]:
    """Code and reason of a Close frame (section 5.5.1)."""
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "close payload of one byte")
    (code,) = struct.unpack("!H", payload[:2])
    if code < 1000 or code in (1004, NO_STATUS, ABNORMAL, 1015) or 1016 <= code < 3000 or code >= 5000:
        raise FrameError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError(INVALID_DATA, "close reason is not UTF-8") from None


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
        "reader",
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
        self.reader: FrameReader | None = None
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
        self.reader = FrameReader(stream, self.max_size)
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
        assert self.reader is not None
        while True:
            _, opcode, _ = await self.reader.frame()
            if opcode == CLOSE:
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

    async def _next_message(self) -> Message:
        assert self.reader is not None
        assert self.stream is not None
        fragments: list[bytes] = []
        size = 0
        kind = None
        while True:
            fin, opcode, payload = await self.reader.frame()
            if opcode == PING:
                await self.stream.write(encode_frame(PONG, payload))
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                code, reason = parse_close(payload)
                self.close_code, self.close_reason = code, reason
                if not self.sent_close:
                    # Section 5.5.1: answer a Close with a Close, echoing the code.
                    await self._write_close(code, "")
                self.phase = CLOSED
                return self._disconnect_message()
            if opcode == CONTINUATION:
                if kind is None:
                    raise FrameError(PROTOCOL_ERROR, "continuation frame without a message to continue")
            elif opcode in (TEXT, BINARY):
                if kind is not None:
                    raise FrameError(PROTOCOL_ERROR, "new message inside a fragmented one")
                kind = opcode
            else:
                raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            size += len(payload)
            if size > self.max_size:
                raise FrameError(TOO_BIG, "message too big")
            fragments.append(payload)
            if fin:
                break
        data = b"".join(fragments)
        if kind == BINARY:
            return {"type": "websocket.receive", "bytes": data, "text": None}
        try:
            return {"type": "websocket.receive", "bytes": None, "text": data.decode()}
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "text message is not UTF-8") from None

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
                    await self._write(encode_frame(TEXT, text.encode()))
                else:
                    data = message.get("bytes")
                    if type(data) is not bytes:
                        data = body_bytes(data, kind)
                    await self._write(encode_frame(BINARY, data))
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
        await self._write(encode_close(code, reason))
