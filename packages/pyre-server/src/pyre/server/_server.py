"""Starting, running and stopping: sockets, lifespan, signals, graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import stat
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Final

from pyre.spec import EXT_EARLY_HINTS, EXT_TLS, EXT_UPGRADE, Application, HasLifespan, ServerInfo

from .__about__ import __version__
from ._config import Config
from ._errors import StartupError
from ._h2_select import connection_factory
from ._protocol import LINGER_TIMEOUT
from ._shared import Shared
from ._tls import ServerTLS

logger = logging.getLogger("pyre.server")

SERVER_INFO: Final = ServerInfo(
    name=f"pyre-server/{__version__}", extensions=frozenset({EXT_UPGRADE, EXT_EARLY_HINTS})
)
# A server on TLS also describes each connection's session (spec section 10.4).
TLS_SERVER_INFO: Final = ServerInfo(name=SERVER_INFO.name, extensions=SERVER_INFO.extensions | {EXT_TLS})

# How often deadlines are checked; the Date header changes once a second.
_TICK: Final = 0.25
# After the drain timeout: how long cancelled requests get to send their 503 before
# their connections are aborted.
_CANCEL_GRACE: Final = 1.0


class Server:
    """An HTTP/1.1 and HTTP/2 server for one pyre-spec application, on the running event loop.

    ::

        async with Server(app, Config(port=0)) as server:
            ...  # requests to server.port

    ``start`` binds, runs lifespan startup and starts accepting; ``stop`` stops
    accepting, lets requests in progress finish (``timeout_drain``), closes idle
    connections and runs lifespan shutdown.

    ``limit_reached`` is set once ``limit_max_requests`` (plus its jitter) requests
    have been handed to the app; the server goes on serving until whoever runs it
    calls ``stop``, so that a replacement can start accepting first.
    """

    def __init__(self, app: Application, config: Config | None = None) -> None:
        self.app = app
        self.config = config or Config()
        self.info = TLS_SERVER_INFO if self.config.ssl_certfile is not None else SERVER_INFO
        self._shared: Shared | None = None
        self._servers: list[asyncio.Server] = []
        self._ticker: asyncio.TimerHandle | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_stop: asyncio.Event | None = None
        self.limit_reached = asyncio.Event()
        limit = self.config.limit_max_requests
        self.request_limit = (
            None if limit is None else limit + random.randint(0, self.config.limit_max_requests_jitter)
        )
        """The number of requests after which ``limit_reached`` is set (jitter included)."""

    @property
    def sockets(self) -> list[socket.socket]:
        return [sock for server in self._servers for sock in server.sockets]

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``port=0``)."""
        for sock in self.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening on a TCP socket")

    async def start(self, sockets: Sequence[socket.socket] = ()) -> None:
        """``sockets``: serve on these bound, listening sockets (a gunicorn worker's)
        instead of the configured address."""
        loop = asyncio.get_running_loop()
        # TLS files are read before binding, so that a bad one leaves nothing to undo.
        tls = ServerTLS(self.config) if self.config.ssl_certfile is not None else None
        shared = self._shared = Shared(self.app, self.config, loop, self.info, tls)
        factory = connection_factory(shared)
        if sockets:
            await self._adopt(sockets, factory)
        else:
            await self._bind(factory)
        try:
            await self._start_lifespan(shared)
        except BaseException:
            await self._close_listeners()
            raise
        self._ticker = loop.call_later(_TICK, self._tick)
        for server in self._servers:
            await server.start_serving()
        logger.info("Listening on %s", self._describe())

    async def _bind(self, factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        tls = self._tls_options()
        try:
            if config.fd is not None:
                sock = socket.socket(fileno=config.fd)
                server = await loop.create_server(
                    factory, sock=sock, backlog=config.backlog, start_serving=False, **tls
                )
            elif config.uds is not None:
                _remove_stale_socket(config.uds)
                server = await loop.create_unix_server(
                    factory, config.uds, backlog=config.backlog, start_serving=False, **tls
                )
            else:
                server = await loop.create_server(
                    factory, config.host, config.port, backlog=config.backlog, start_serving=False, **tls
                )
        except OSError as error:
            raise listen_error(config, error) from None
        self._servers.append(server)

    def _tls_options(self) -> dict[str, Any]:
        """``create_server``'s TLS arguments for every listener, none without TLS."""
        tls = self._shared.tls if self._shared is not None else None
        if tls is None:
            return {}
        # A client that stalls its handshake is closed after timeout_header, as one that
        # stalls its request head would be (the connection does not exist before).  A closed
        # connection whose client does not answer TLS's close_notify (an idle pooled
        # connection does not read) is reset after LINGER_TIMEOUT, as a lingering close is,
        # not after asyncio's 30 s, which would also make every drain wait that long.
        return {
            "ssl": tls.context,
            "ssl_handshake_timeout": self.config.timeout_header,
            "ssl_shutdown_timeout": LINGER_TIMEOUT,
        }

    async def _adopt(self, sockets: Sequence[socket.socket], factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        tls = self._tls_options()
        for sock in sockets:
            if sock.family == socket.AF_UNIX:
                server = await loop.create_unix_server(factory, sock=sock, start_serving=False, **tls)
            else:
                server = await loop.create_server(factory, sock=sock, start_serving=False, **tls)
            self._servers.append(server)

    async def _start_lifespan(self, shared: Shared) -> None:
        """Enter the app's lifespan in a task of its own, so that startup and shutdown
        run in one task (anyio cancel scopes, task groups) whoever calls stop()."""
        app = self.app
        if self.config.lifespan == "off":
            return
        if not isinstance(app, HasLifespan):
            if self.config.lifespan == "on":
                raise StartupError("lifespan is on, but the application has no lifespan method")
            return
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = self._lifespan_stop = asyncio.Event()

        async def lifespan() -> None:
            try:
                async with app.lifespan(self.info, shared.state):
                    started.set_result(None)
                    await stop.wait()
            except BaseException as error:
                if not started.done():
                    started.set_exception(error)
                    return
                raise

        self._lifespan = asyncio.create_task(lifespan(), name="pyre lifespan")
        try:
            await started
        except Exception as error:
            raise StartupError(f"lifespan startup failed: {type(error).__name__}: {error}") from error

    def _tick(self) -> None:
        shared = self._shared
        assert shared is not None
        shared.refresh()
        limit = self.request_limit
        if limit is not None and shared.requests >= limit and not self.limit_reached.is_set():
            logger.info("Reached the limit of %d requests (limit_max_requests)", limit)
            self.limit_reached.set()
        self._ticker = shared.loop.call_later(_TICK, self._tick)

    def cancel_requests(self) -> None:
        """Stop at once: cancel every request in progress (answered 503 if nothing of its
        response was sent, else cut off).  ``stop`` then has nothing left to wait for."""
        for connection in list(self._shared.connections if self._shared else ()):
            connection.cancel()

    async def stop(self) -> None:
        shared = self._shared
        if shared is None or shared.draining:
            return
        shared.draining = True
        # Close the listeners without waiting on them yet: since Python 3.12
        # asyncio.Server.wait_closed() also waits for every connection it accepted
        # to close, so awaiting it here would outwait the drain timeout.
        for server in self._servers:
            server.close()
        for connection in list(shared.connections):
            connection.shutdown()
        if not await _all_closed(shared, self.config.timeout_drain):
            logger.warning(
                "Cancelling requests on %d connections still open after the drain timeout",
                len(shared.connections),
            )
            for connection in list(shared.connections):
                connection.cancel()
            if not await _all_closed(shared, _CANCEL_GRACE):
                for connection in list(shared.connections):
                    connection.abort()
        await self._close_listeners()
        if self._ticker is not None:
            self._ticker.cancel()
        await self._stop_lifespan()
        if self.config.uds is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.config.uds)

    async def _stop_lifespan(self) -> None:
        task = self._lifespan
        if task is None or self._lifespan_stop is None:
            return
        self._lifespan_stop.set()
        try:
            await task
        except Exception:
            logger.exception("Lifespan shutdown failed")

    async def _close_listeners(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()

    def _describe(self) -> str:
        config = self.config
        if config.uds is not None:
            return f"unix:{config.uds}"
        names = [sock.getsockname() for sock in self.sockets]
        scheme = "https" if config.ssl_certfile is not None else "http"
        return ", ".join(
            f"{scheme}://[{name[0]}]:{name[1]}"
            if ":" in str(name[0])
            else f"{scheme}://{name[0]}:{name[1]}"
            if isinstance(name, tuple)
            else str(name)
            for name in names
        )

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def _all_closed(shared: Shared, seconds: float) -> bool:
    """Wait up to ``seconds`` for every connection to close; whether they did."""
    if shared.connections:
        shared.all_closed.clear()
        try:
            async with asyncio.timeout(seconds):
                await shared.all_closed.wait()
        except TimeoutError:
            return False
    return True


def listen_error(config: Config, error: OSError) -> StartupError:
    """Binding the configured address failed (here, or in ``pyre serve``'s supervisor)."""
    where = config.uds or (f"fd {config.fd}" if config.fd is not None else f"{config.host}:{config.port}")
    reason = os.strerror(error.errno).lower() if error.errno else str(error)
    return StartupError(f"cannot listen on {where}: {reason}")


def _remove_stale_socket(path: str) -> None:
    """A socket file left by an earlier run would make bind fail; anything else is kept."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"{path} exists and is not a socket")
    os.unlink(path)


async def serve(app: Application, config: Config) -> None:
    """Run until SIGINT or SIGTERM (or ``limit_max_requests``), then stop gracefully;
    a second signal stops at once."""
    server = Server(app, config)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)

    starting = asyncio.current_task()

    def on_signal() -> None:
        if stop_requested.is_set():
            logger.warning("Stopping now")
            if starting is not None:  # a second signal while the startup hangs: give it up
                starting.cancel()
            for connection in list(server._shared.connections if server._shared else ()):
                connection.cancel()
            return
        logger.info("Shutting down (send the signal again to stop at once)")
        stop_requested.set()

    # Before start(): a SIGTERM during the lifespan startup (a rolling restart, a
    # Kubernetes pod stopped early) is a graceful stop once the server has started,
    # not the default action that kills the process.
    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        try:
            await server.start()
        except asyncio.CancelledError:
            if not stop_requested.is_set():
                raise
            raise StartupError("stopped by a second signal before the server had started") from None
        starting = None
        await _first(stop_requested.wait(), server.limit_reached.wait())
        await server.stop()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed, else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(app: Application, config: Config | None = None, **options: Any) -> None:
    """Serve ``app`` until SIGINT/SIGTERM.  ``options`` are ``Config`` fields.

    Raises ``StartupError`` when the server cannot start.
    """
    if config is None:
        config = Config(**options)
    elif options:
        raise TypeError("give either a Config or Config fields, not both")
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve(app, config))
