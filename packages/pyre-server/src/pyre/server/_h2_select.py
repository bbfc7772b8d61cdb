"""Which protocol a new connection speaks: HTTP/1.1 or HTTP/2 (``Config.http``, ``Config.h2c``).

On TLS the handshake decides (ALPN, RFC 7301): ``AlpnSelector`` hands the
connection to the protocol the client chose.  On a cleartext listener with
``h2c``, ``PrefaceSniffer`` reads a new connection's first bytes: the HTTP/2
client preface makes it HTTP/2 (prior knowledge, RFC 9113 section 3.3),
anything else HTTP/1.1.  Either steps out of the way (``set_protocol``) once it
has chosen, so no request pays for the choice; without HTTP/2 neither is used.

With ``h2c``, an HTTP/1.1 request may also ask to go on in HTTP/2 (``Upgrade:
h2c`` with ``HTTP2-Settings``, RFC 7540 section 3.2; RFC 9113 dropped it, curl
and some proxies still send it): ``upgrade_to_h2c`` answers 101 and the
request becomes stream 1.  One with content is answered in HTTP/1.1, as RFC
7540 allows (curl --http2 -d sends one): HTTP/1.1 has read that content, which
would otherwise have to become stream 1's (pyre spec PYRE-UPG-9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from ._http2 import PREFACE, Http2Connection
from ._protocol import HttpConnection
from ._request import EMPTY_BODY, HttpRequest
from ._shared import Shared

SWITCHING_TO_H2C: Final = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"


def connection_factory(shared: Shared) -> Callable[[], asyncio.Protocol]:
    """The protocol factory of the server's listeners."""
    config = shared.config
    if shared.tls is not None:
        if config.http == "1":
            return lambda: HttpConnection(shared)
        return lambda: AlpnSelector(shared)
    if config.http == "2":
        return lambda: Http2Connection(shared)
    if config.h2c:
        return lambda: PrefaceSniffer(shared)
    return lambda: HttpConnection(shared)


class AlpnSelector(asyncio.Protocol):
    """TLS: once the handshake is done, the protocol ALPN chose takes the connection.

    With ``http="2"`` only h2 is offered, and a client that names no protocol
    is spoken to in HTTP/2 all the same.
    """

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol: asyncio.Protocol
        if chosen == "h2" or self.shared.config.http == "2":
            protocol = Http2Connection(self.shared)
        else:
            protocol = HttpConnection(self.shared)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


class PrefaceSniffer(asyncio.Protocol):
    """Cleartext with h2c: HTTP/1.1 until the first bytes turn out to be the HTTP/2 preface.

    The HTTP/1.1 connection exists from the start (its keep-alive deadline, a
    shutdown), so this only looks at the first data.
    """

    __slots__ = ("http1", "transport", "received")

    def __init__(self, shared: Shared) -> None:
        self.http1 = HttpConnection(shared)
        self.transport: asyncio.BaseTransport | None = None
        self.received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.http1.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        received = self.received + data if self.received else data
        transport = self.transport
        assert transport is not None
        if len(received) < len(PREFACE) and PREFACE.startswith(received):
            self.received = received  # a request line that might still be the preface
            return
        self.received = b""
        http1 = self.http1
        if not received.startswith(PREFACE):
            transport.set_protocol(http1)
            http1.data_received(received)
            return
        http2 = Http2Connection(http1.shared)
        transport.set_protocol(http2)
        http2.connection_made(transport)  # before the HTTP/1.1 one leaves: never no connection
        http1.connection_lost(None)
        http2.data_received(received)

    def eof_received(self) -> bool:
        return self.http1.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.http1.connection_lost(exc)

    def pause_writing(self) -> None:
        self.http1.pause_writing()

    def resume_writing(self) -> None:
        self.http1.resume_writing()


def upgrade_to_h2c(connection: HttpConnection, request: HttpRequest) -> bool:
    """``Upgrade: h2c``: switch ``connection`` to HTTP/2 with ``request`` as stream 1, if it asks
    for it in full; whether it did (if not, the app answers it in HTTP/1.1)."""
    headers = request.headers
    settings = headers.get_all("http2-settings")
    if (
        request.body is not EMPTY_BODY
        or "h2c" not in _tokens(headers.get("upgrade"))
        or "http2-settings" not in _tokens(headers.get("connection"))
        or len(settings) != 1
    ):
        return False
    http2 = Http2Connection(connection.shared)
    if not http2.prepare_upgrade(settings[0].encode("latin-1")):
        return False  # HTTP2-Settings that are not base64url SETTINGS: answered in HTTP/1.1
    transport = connection.transport
    assert transport is not None
    out = connection.out
    if out:  # responses to requests before it go first
        transport.write(b"".join(out))
        out.clear()
    transport.write(SWITCHING_TO_H2C)
    held = connection.core.switch()
    if connection.reading_paused:  # HTTP/1.1's backpressure is not HTTP/2's
        transport.resume_reading()
    transport.set_protocol(http2)
    http2.connection_made(transport)
    connection.connection_lost(None)
    http2.take_upgraded(request)
    if held:
        http2.data_received(bytes(held))
    return True


def _tokens(value: str | None) -> list[str]:
    return [token.strip().lower() for token in value.split(",")] if value else []
