"""``to_asgi``'s WebSocket side: an ASGI ``websocket`` scope offered to the pyre-spec application as a
``pyre.websocket`` session (spec section 9.5), since ASGI gives no raw bytes to upgrade."""

from __future__ import annotations

from pyre.spec import ClientDisconnected, RawHeaders

from ._errors import ASGIProtocolError
from ._types import Receive, Send


class ASGIWebSocketSession:
    """``pyre.spec.WebSocketSession`` over ASGI's ``websocket.*`` messages."""

    __slots__ = ("close_code", "close_reason", "accepted", "_closing", "_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.close_code: int | None = None
        self.close_reason = ""
        self.accepted = False
        self._closing = False
        """Whether ``websocket.close`` was sent: the ASGI server carries out the closing handshake."""
        self._receive = receive
        self._send = send

    async def accept(self, subprotocol: str | None = None, headers: RawHeaders = ()) -> None:
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers)})
        self.accepted = True

    async def receive(self) -> str | bytes | None:
        if self.close_code is not None:
            return None
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text: str | None = message.get("text")
            return text if text is not None else bytes(message.get("bytes") or b"")
        if kind == "websocket.disconnect":
            self.close_code = message.get("code", 1005)
            self.close_reason = message.get("reason") or ""
            return None
        raise ASGIProtocolError(f"unexpected ASGI message {kind!r} on a WebSocket")

    async def send(self, message: str | bytes) -> None:
        if self.close_code is not None or self._closing:
            raise ClientDisconnected("the WebSocket is closed")
        key = "text" if isinstance(message, str) else "bytes"
        try:
            await self._send({"type": "websocket.send", key: message})
        except OSError as error:  # the ASGI server's way of saying the client is gone (ASGI 2.4)
            self.close_code = 1006
            raise ClientDisconnected("the client closed the WebSocket") from error

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closing or self.close_code is not None:
            return
        self._closing = True
        await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def finish(self) -> None:
        """After the application returned: refuse a handshake it never accepted (the ASGI server
        answers 403), or close the connection it left open."""
        await self.close()
