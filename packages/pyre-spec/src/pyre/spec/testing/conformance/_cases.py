"""What a conformance case is, the limits it assumes, and the context it runs in."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..._application import Application
from ..._request import Address
from ._client import WireClient, WireResponse

ServerFactory: TypeAlias = Callable[
    [Application], AbstractAsyncContextManager[Address] | AbstractContextManager[Address]
]
"""Starts the server under test on a loopback port with ``app``; yields ``(host, port)``.

Either kind of context manager works: an async one runs on an event loop the
suite keeps in a background thread, a sync one (say, a subprocess) runs in the
test's thread.  Entering must raise if the server cannot start, for example
because the app's lifespan startup failed.
"""


class NotApplicable(Exception):
    """Raised by a check when the server does not offer what it checks (say, an extension)."""


@dataclass(frozen=True)
class Limits:
    """The limits of the server under test; the suite builds requests just past them.

    ``None`` says the server has no such limit, and skips the cases that need it.
    """

    max_target: int | None = 8 * 1024
    """Longest request-target, in bytes; longer gets ``414 URI Too Long``."""
    max_header_bytes: int | None = 64 * 1024
    """Largest header section (field lines, without the request line); larger gets 431."""
    max_header_count: int | None = 100
    """Most field lines in the header section; more gets 431."""
    max_body: int | None = 1024 * 1024
    """Largest request content, in bytes; larger gets ``413 Content Too Large``."""


@dataclass(frozen=True)
class Case:
    """One conformance check; its pytest id is ``ASSERTION[name]``."""

    assertion: str
    name: str
    level: str
    """``MUST``, ``SHOULD`` or ``MAY`` (RFC 2119 / RFC 8174)."""
    section: str
    """Where the requirement is written, e.g. ``RFC 9112 §6.1``."""
    summary: str
    app: Application
    check: Callable[[Context], None]
    needs: tuple[str, ...] = ()
    """``Limits`` fields that must not be ``None`` for the case to run."""

    @property
    def id(self) -> str:
        return f"{self.assertion}[{self.name}]"

    def skip_reason(self, limits: Limits) -> str | None:
        missing = [name for name in self.needs if getattr(limits, name) is None]
        return f"the server declares no {', '.join(missing)}" if missing else None


class _LoopThread:
    """An event loop in a daemon thread, for servers started by async factories."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pyre-conformance", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, timeout: float) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
        # else a server blocked its loop; the daemon thread is abandoned rather than hang the run


class _Server:
    """One entered server context manager."""

    def __init__(self, manager: Any, loop: _LoopThread | None, address: Address) -> None:
        self.manager = manager
        self.loop = loop
        self.address = address


class Context:
    """What a running case can use: servers (started lazily, one per app), clients, limits."""

    def __init__(self, factory: ServerFactory, limits: Limits, timeout: float) -> None:
        self.factory = factory
        self.limits = limits
        self.timeout = timeout
        self._servers: dict[int, _Server] = {}
        self._loop: _LoopThread | None = None

    def _start(self, app: Application) -> _Server:
        manager: Any = self.factory(app)
        loop = None
        if hasattr(manager, "__aenter__"):
            loop = self._loop = self._loop or _LoopThread()
            address = loop.run(manager.__aenter__(), self.timeout * 3)
        else:
            address = manager.__enter__()
        host, port = address
        return _Server(manager, loop, (str(host), int(port)))

    def _stop(self, server: _Server) -> None:
        if server.loop is not None:
            server.loop.run(server.manager.__aexit__(None, None, None), self.timeout * 3)
        else:
            server.manager.__exit__(None, None, None)

    def address(self, app: Application) -> Address:
        """The server running ``app``, started on first use and kept for the test class."""
        server = self._servers.get(id(app))
        if server is None:
            server = self._servers[id(app)] = self._start(app)
        return server.address

    @contextmanager
    def fresh_server(self, app: Application) -> Iterator[Address]:
        """A server of its own for ``app``, stopped at the end of the block."""
        server = self._start(app)
        try:
            yield server.address
        finally:
            self._stop(server)

    def start_fails(self, app: Application) -> BaseException | None:
        """Try to start a server with ``app``; the exception it raised, or ``None`` if it started."""
        try:
            server = self._start(app)
        except Exception as exc:
            return exc
        self._stop(server)
        return None

    def connect(self, app: Application) -> WireClient:
        return WireClient(self.address(app), self.timeout)

    def exchange(self, app: Application, data: bytes, method: str = "GET") -> WireResponse:
        """Send one request on a new connection and read its response."""
        with self.connect(app) as client:
            client.send(data)
            return client.read_response(method)

    def check_reported(self, app: Application) -> None:
        """Raise ``SpecViolation`` if ``app``'s server broke an assertion that no response showed.

        The validated apps record what the validator finds while the server sends a response
        (its stream, trailers, upgrade) or after the client left; only a server already running
        ``app`` is asked.
        """
        if id(app) in self._servers:
            self.exchange(app, b"GET /_control/violations HTTP/1.1\r\nHost: conformance.test\r\n\r\n")

    def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        errors = []
        for server in servers:
            try:
                self._stop(server)
            except Exception as exc:
                errors.append(exc)
        if self._loop is not None:
            self._loop.stop(self.timeout)
            self._loop = None
        if errors:
            raise errors[0]


def new_key() -> str:
    """A fresh rendezvous key for the apps' ``/_control`` routes."""
    return uuid.uuid4().hex
