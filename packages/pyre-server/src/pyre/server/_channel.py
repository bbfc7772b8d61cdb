"""What a request, its body and an upgraded stream need of their connection.

``HttpRequest``, ``HttpBody`` and ``UpgradeStream`` (the objects an app holds)
talk to the connection through this interface alone; ``_protocol``'s
``HttpConnection`` is the one implementation.  Typing only: importing it costs
nothing at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from pyre.spec import RawHeaders, ServerInfo, State

if TYPE_CHECKING:
    import asyncio

    from ._config import Config
    from ._proxy import TrustedProxies
    from ._request import HttpBody, HttpRequest


class ServerContext(Protocol):
    """What every connection of one server shares, as requests see it."""

    @property
    def config(self) -> Config: ...
    @property
    def state(self) -> State: ...
    @property
    def info(self) -> ServerInfo: ...
    @property
    def proxies(self) -> TrustedProxies | None: ...


class Channel(Protocol):
    """One connection, as the objects an app holds see it."""

    # Read-only here: properties, so that the connection's own types may be narrower.
    @property
    def shared(self) -> ServerContext: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def client(self) -> tuple[str, int] | None: ...
    @property
    def local(self) -> tuple[str, int] | None: ...
    @property
    def tls_extensions(self) -> Mapping[str, object] | None:
        """The same for each request."""

    @property
    def closed(self) -> bool:
        """The connection is gone."""

    def consumed(self) -> None:
        """The app took buffered input (content, or an upgraded stream's bytes)."""

    def continue_body(self, body: HttpBody) -> None:
        """The app reads ``body`` for the first time: 100 (Continue) if it is expected."""

    def waiting_for_body(self, waiting: bool) -> None:
        """The app starts (``True``) or stops waiting for content."""

    async def wait_closed(self) -> None:
        """Return once the connection is gone."""

    async def send_interim(self, request: HttpRequest, status: int, headers: RawHeaders) -> None:
        """Send a 1xx response ahead of ``request``'s final one."""

    def send(self, data: bytes) -> None:
        """Write bytes of an upgraded connection."""

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written."""

    def end_upgrade(self) -> None:
        """The upgraded stream is closed: so is the connection, once written."""
