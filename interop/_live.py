"""An ASGI application on a live server, in a thread of its own, over a real socket.

The third-party suites talk to their application through a real TCP connection, as a
deployed client would: pyre-server through pyre-asgi's ``from_asgi``, or uvicorn for the
comparison. Both run on uvloop when it is installed, as both do by default.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

# The servers a suite can run against; ``INTEROP_SERVER`` picks one.
SERVERS = ("pyre", "uvicorn")
# Requests still running when a test ends get this long before the server cancels them.
_DRAIN_SECONDS = 5.0
_START_SECONDS = 10.0


class StartupFailed(Exception):
    """The server did not start (lifespan startup failed): the app's own exception stays in
    the server's log, as it does in production, so a test expecting it sees this instead."""


class LiveServer:
    """``app`` served on 127.0.0.1 by ``server`` until ``stop()``.

    ``lifespan`` runs the app's ASGI lifespan at start and stop, as a TestClient used as a
    context manager does; without it the app gets HTTP scopes only. A failed startup is
    raised from ``start()``. ``uvicorn_options`` are ``uvicorn.Config`` fields, to run
    uvicorn as the suite's own set-up does.
    """

    def __init__(
        self,
        app: Any,
        server: str,
        *,
        lifespan: bool,
        root_path: str = "",
        uvicorn_options: dict[str, Any] | None = None,
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")
        self.app = app
        self.server = server
        self.lifespan = lifespan
        self.root_path = root_path
        self.uvicorn_options = uvicorn_options or {}
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"live {self.server}", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_SECONDS):
            raise RuntimeError(f"{self.server} did not start within {_START_SECONDS} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise StartupFailed(f"{self.server} did not start: {self._error}") from None

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        self._thread = None
        loop.call_soon_threadsafe(stopping.set)
        thread.join(_DRAIN_SECONDS * 2)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_new_event_loop) as runner:
                runner.run(self._serve())
        except BaseException as error:  # reported to the thread that called start() or stop()
            self._error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self.server == "pyre":
            await self._serve_pyre()
        else:
            await self._serve_uvicorn()

    async def _serve_pyre(self) -> None:
        from pyre.asgi import from_asgi
        from pyre.server import Config, Server

        app: Any = from_asgi(self.app)
        if not self.lifespan:
            app = _WithoutLifespan(app)
        config = Config(port=0, root_path=self.root_path, access_log=False, timeout_drain=_DRAIN_SECONDS)
        async with Server(app, config) as server:
            self.port = server.port
            await self._serve_until_stopped()

    async def _serve_uvicorn(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            lifespan="on" if self.lifespan else "off",
            root_path=self.root_path,
            log_level="warning",
            timeout_graceful_shutdown=int(_DRAIN_SECONDS),
            **self.uvicorn_options,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():  # lifespan startup failed: uvicorn logs it and returns
                await serving
                raise StartupFailed("lifespan startup failed")
            await asyncio.sleep(0.005)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        try:
            await self._serve_until_stopped()
        finally:
            server.should_exit = True
            await serving

    async def _serve_until_stopped(self) -> None:
        assert self._stopping is not None
        self._ready.set()
        await self._stopping.wait()


class _WithoutLifespan:
    """The pyre-spec app without its ``lifespan``, so the server skips the ASGI lifespan."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, request: Any, /) -> Any:
        return await self._app(request)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
