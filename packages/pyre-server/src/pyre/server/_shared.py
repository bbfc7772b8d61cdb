"""What every connection of one server shares: the app, the settings, the clock, the Date line.

``Shared`` is made once per server; ``refresh``, a few times a second, moves the
clock the connections' deadlines are read against, renews the ``date`` line
(and forgets the heads cached with the old one), and times out the connections
whose deadline has passed.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pyre.spec import Response, ServerInfo, State

from ._config import Config
from ._proxy import TrustedProxies
from ._request import ForwardedRequest, HttpRequest
from ._response import date_line, extra_header_line
from ._tls import ServerTLS

if TYPE_CHECKING:
    from ._http2 import Http2Connection
    from ._protocol import HttpConnection

App = Callable[[HttpRequest], Awaitable[Response]]


class Shared:
    """What every connection of one server shares."""

    def __init__(
        self,
        app: App,
        config: Config,
        loop: asyncio.AbstractEventLoop,
        info: ServerInfo,
        tls: ServerTLS | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.loop = loop
        self.info = info
        self.tls = tls
        # What requests are (on TLS too: they take "https" and the pyre.tls data from their
        # connection), and, from a trusted proxy, what the proxy headers make of them.
        self.request_type = HttpRequest
        self.proxies = TrustedProxies(config.forwarded_allow_ips) if config.proxy_headers else None
        self.forwarded_request_type: type[HttpRequest] = ForwardedRequest
        self.state: State = {}
        self.context = contextvars.copy_context()
        self.connections: set[HttpConnection | Http2Connection] = set()
        # Connections whose write buffer is full, and when they time out (timeout_send).
        self.stalled: dict[HttpConnection | Http2Connection, float] = {}
        # How much waiting one byte of request content pays for (limit_body_rate).
        self.seconds_per_body_byte = 1 / config.limit_body_rate if config.limit_body_rate else math.inf
        self.all_closed = asyncio.Event()
        self.draining = False
        self.requests = 0  # requests handed to the app so far
        # limit_concurrency: requests whose app (or response stream, or upgrade) runs.
        self.in_flight = 0
        self.concurrency_limit = config.limit_concurrency or sys.maxsize
        self.refused_busy = 0  # since the last warning about it
        self.busy_warning_due = 0.0
        # A header section under this size needs no closer look: one field over
        # limit_header_field_size makes the section (4 bytes a line) pass it too.
        field_limit = config.limit_header_field_size
        self.header_check = (
            config.limit_header_size
            if field_limit is None
            else min(config.limit_header_size, field_limit + 4)
        )
        self.now = loop.time()
        self.date = b""
        self.server_line = b"server: pyre\r\n" if config.server_header else b""
        # --header: the operator's fields, sent whatever the app sends.
        self.extra_lines = b"".join(extra_header_line(name, value) for name, value in config.headers)
        self._date_second = -1
        self.heads: dict[tuple[object, ...], tuple[bytes, bool, bool]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Called a few times a second: the clock for deadlines and the Date header."""
        self.now = self.loop.time()
        wall = time.time()
        if int(wall) != self._date_second:
            self._date_second = int(wall)
            self.date = date_line(wall) if self.config.date_header else b""
            self.heads.clear()
        for connection in [c for c in self.connections if 0.0 < c.deadline <= self.now]:
            connection.timed_out()
        if self.stalled:
            for connection in [c for c, deadline in self.stalled.items() if deadline <= self.now]:
                connection.send_timed_out()
