"""Serving a pyre-spec application inside the test's own event loop, on a free port of 127.0.0.1:
on pyre-server, and on uvicorn through ``pyre.asgi.to_asgi``.  Each yields the port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import uvicorn

import pyre.spec
from pyre.asgi import to_asgi
from pyre.server import Config, Server

STARTUP_SECONDS = 20.0
"""How long a server may take to start or stop before the test fails; never a speed assertion."""


@contextlib.asynccontextmanager
async def on_pyre_server(app: pyre.spec.Application) -> AsyncIterator[int]:
    async with Server(app, Config(host="127.0.0.1", port=0, access_log=False)) as server:
        yield server.port


@contextlib.asynccontextmanager
async def on_uvicorn(app: pyre.spec.Application) -> AsyncIterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(to_asgi(app), lifespan="on", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while not server.started:
                assert not serving.done(), serving.exception()
                await asyncio.sleep(0.02)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, STARTUP_SECONDS)
        listener.close()


SERVERS: dict[str, Callable[[pyre.spec.Application], AbstractAsyncContextManager[int]]] = {
    "pyre-server": on_pyre_server,
    "uvicorn": on_uvicorn,
}
"""Both ways to serve a pyre-spec app in-process, by the name tests parametrize on."""
