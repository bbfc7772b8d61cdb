"""Cases on the WebSocket extension (section 9.5), run against the ``websocket`` app.

The client side is wsproto's RFC 6455 codec, imported when a case runs: the kit
itself needs only the standard library, and without wsproto (or on a server that
does not list ``pyre.websocket``) these cases are skipped.
"""

from __future__ import annotations

import importlib
from collections import deque
from typing import Any

from . import apps
from ._behaviors import behavior, head, posted
from ._cases import Context, NotApplicable, new_key
from ._client import ConnectionClosed

_HOST = "conformance.test"


def _wsproto() -> Any:
    """wsproto and its events module."""
    try:
        return importlib.import_module("wsproto"), importlib.import_module("wsproto.events")
    except ImportError:
        raise NotApplicable("the WebSocket cases need wsproto (pip install wsproto)") from None


class _WebSocket:
    """A WebSocket client over one ``WireClient`` connection, with wsproto doing the framing."""

    def __init__(self, context: Context, target: str, subprotocols: tuple[str, ...] = ()) -> None:
        self.wsproto, self.events = _wsproto()
        self.client = context.connect(apps.websocket)
        self.connection = self.wsproto.WSConnection(self.wsproto.ConnectionType.CLIENT)
        self._pending: deque[Any] = deque()
        self.send(self.events.Request(host=_HOST, target=target, subprotocols=list(subprotocols)))
        self.handshake = self.next_event()
        if isinstance(self.handshake, self.events.RejectConnection) and self.handshake.status_code == 501:
            self.client.close()
            raise NotApplicable("the server does not list pyre.websocket")

    def __enter__(self) -> _WebSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def send(self, event: Any) -> None:
        self.client.sendall(self.connection.send(event))

    def next_event(self) -> Any:
        while not self._pending:
            data = self.client.sock.recv(65536)
            self.connection.receive_data(data or None)
            self._pending.extend(self.connection.events())
            if not data and not self._pending:
                raise ConnectionClosed("the server closed the WebSocket connection")
        return self._pending.popleft()

    def message(self) -> str | bytes:
        """The next whole message; fails on anything else."""
        parts: list[Any] = []
        while True:
            event = self.next_event()
            assert isinstance(event, (self.events.TextMessage, self.events.BytesMessage)), event
            parts.append(event.data)
            if event.message_finished:
                return "".join(parts) if isinstance(event, self.events.TextMessage) else b"".join(parts)


def _accepted(socket: _WebSocket) -> Any:
    assert isinstance(socket.handshake, socket.events.AcceptConnection), f"not accepted: {socket.handshake}"
    return socket.handshake


@behavior("PYRE-WS-1", "handshake-gets-a-session", level="MUST", section="9.5", app=apps.websocket)
def _handshake_session(context: Context) -> None:
    """A validated handshake reaches the app with a session; a plain GET carries none."""
    with _WebSocket(context, f"/echo?id={new_key()}") as socket:
        _accepted(socket)
        socket.send(socket.events.TextMessage(data="hello"))
        assert socket.message() == "hello"
    plain = context.exchange(apps.websocket, head("GET", "/plain"))
    if plain.status != 501:  # a bridge may list pyre.websocket on handshakes only
        assert plain.json() == {"offered": False}, "a request that is no handshake carries a session"


@behavior("PYRE-WS-2", "accept-subprotocol-and-fields", level="MUST", section="9.5", app=apps.websocket)
def _accept_subprotocol(context: Context) -> None:
    """accept() completes the handshake with the chosen subprotocol and the app's fields."""
    target = f"/echo?id={new_key()}&subprotocol=superchat"
    with _WebSocket(context, target, subprotocols=("chat", "superchat")) as socket:
        accepted = _accepted(socket)
        assert accepted.subprotocol == "superchat", accepted
        assert (b"x-conformance", b"accepted") in [tuple(pair) for pair in accepted.extra_headers], accepted


@behavior("PYRE-WS-2", "no-accept-is-a-refusal", level="MUST", section="9.5", app=apps.websocket)
def _refused(context: Context) -> None:
    """An app that returns without accept() refuses the handshake with an HTTP error."""
    with _WebSocket(context, "/refuse") as socket:
        refusal = socket.handshake
        assert isinstance(refusal, socket.events.RejectConnection), f"not refused: {refusal}"
        assert refusal.status_code == 403, refusal


@behavior("PYRE-WS-3", "messages-and-close", level="MUST", section="9.5", app=apps.websocket)
def _messages_and_close(context: Context) -> None:
    """Text and binary messages come whole; after the client's close, receive() gives None for good,
    close_code and close_reason are set, send() raises ClientDisconnected, close() twice is harmless."""
    key = new_key()
    with _WebSocket(context, f"/echo?id={key}") as socket:
        _accepted(socket)
        socket.send(socket.events.TextMessage(data="text"))
        assert socket.message() == "text"
        socket.send(socket.events.BytesMessage(data=b"\x00bytes\xff"))
        assert socket.message() == b"\x00bytes\xff"
        socket.send(socket.events.CloseConnection(code=1000, reason="bye"))
        event = socket.next_event()
        assert isinstance(event, socket.events.CloseConnection), event
    outcome = posted(context, apps.websocket, key)
    assert outcome == "code=1000 reason=bye send=ClientDisconnected again=None", outcome


@behavior("PYRE-WS-5", "other-response-refuses", level="MUST", section="9.5", app=apps.websocket)
def _other_response(context: Context) -> None:
    """Any other response to a handshake is its refusal: sent as the app gave it (or 403)."""
    with _WebSocket(context, "/other") as socket:
        refusal = socket.handshake
        assert isinstance(refusal, socket.events.RejectConnection), f"not refused: {refusal}"
        assert refusal.status_code in (404, 403), refusal
