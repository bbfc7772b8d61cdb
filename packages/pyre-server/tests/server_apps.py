"""Applications the command-line tests load by MODULE:ATTR."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from pyre.spec import Request, Response, ServerInfo, State

log = logging.getLogger("pyre.server")


async def hello(request: Request) -> Response:
    return Response(200, body=b"hello from the command line")


def make_app() -> Any:
    return hello


class WithLifespan:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        if self.fail:
            raise RuntimeError("cannot reach the database")
        yield
        log.info("lifespan shutdown ran")

    async def __call__(self, request: Request) -> Response:
        return Response(200, body=b"ok")


failing = WithLifespan(fail=True)
lifespan = WithLifespan(fail=False)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("never called in these tests")


not_callable = 42


class SlowStartup:
    """A lifespan startup that takes ``seconds``: a signal arrives while it runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        log.info("lifespan startup began")
        await asyncio.sleep(self.seconds)
        yield
        log.info("lifespan shutdown ran")

    async def __call__(self, request: Request) -> Response:
        return Response(200, body=b"ok")


slow_startup = SlowStartup(1.0)
hung_startup = SlowStartup(60.0)
