"""The WebSocket extension (spec section 9.5, new in 1.1): message-level sessions offered by a server
that speaks WebSocket itself, so an application needs no RFC 6455 codec of its own."""

from __future__ import annotations

from typing import Final, Protocol

from ._headers import RawHeaders

EXT_WEBSOCKET: Final = "pyre.websocket"
"""WebSocket handshakes carry ``extensions["pyre.websocket"]``, a ``WebSocketSession`` (section 9.5)."""


class WebSocketSession(Protocol):
    """One WebSocket connection at the message level, before and after its opening handshake.

    ``receive`` returns ``None`` once the connection is closed, and ``close_code`` and
    ``close_reason`` then say how; ``send`` after that raises ``ClientDisconnected`` (PYRE-WS-3).
    """

    close_code: int | None
    close_reason: str

    async def accept(self, subprotocol: str | None = None, headers: RawHeaders = ()) -> None: ...

    async def receive(self) -> str | bytes | None: ...

    async def send(self, message: str | bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...
