"""Starlette and FastAPI on pyre-server through ``from_asgi``: requests that wait run side by side.

The benchmark's ``sleep-10ms`` case (a handler awaiting ``asyncio.sleep``)
once looked as if waiting handlers were served one after another.  Here every
handler waits at a rendezvous that opens only once all of them are inside, so
requests served one at a time, or a wake-up lost between the app's future and
the task stepping it, make the handlers give up (503) instead of answering.
Each handler waits inside an anyio cancel scope, as Starlette's own code does,
and a second route has anyio cancel the wait, through the stepper's wake future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pyre.asgi import from_asgi
from pyre.server import Config, Server

CONCURRENT = 32
HANG_GUARD = 10.0
"""Seconds before a handler (or the test) that would otherwise wait for ever gives up; not about speed."""


class Rendezvous:
    """Opens once ``expected`` handlers have arrived; counts who gave up waiting."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.gave_up = 0
        self.everyone = asyncio.Event()

    async def meet(self) -> bool:
        self.arrived += 1
        if self.arrived == self.expected:
            self.everyone.set()
        with anyio.move_on_after(HANG_GUARD) as scope:
            await self.everyone.wait()
            await asyncio.sleep(0.01)  # what the benchmark's handler does
        if scope.cancelled_caught:
            self.gave_up += 1
            return False
        return True


Handler = Callable[[], Awaitable[Response]]


def handlers(rendezvous: Rendezvous) -> tuple[Handler, Handler]:
    async def together() -> Response:
        if await rendezvous.meet():
            return PlainTextResponse("together")
        return PlainTextResponse("alone", status_code=503)

    async def cut_short() -> Response:
        # anyio cancels the app's wait from its deadline callback: RequestTask.cancel() meets
        # the stepper's wake future, which must hand the cancellation on to the app's future.
        with anyio.move_on_after(0.01) as scope:
            await asyncio.sleep(HANG_GUARD)
        return PlainTextResponse("cut short" if scope.cancelled_caught else "slept")

    return together, cut_short


def starlette_app(rendezvous: Rendezvous) -> Starlette:
    together, cut_short = handlers(rendezvous)

    async def together_endpoint(request: Request) -> Response:
        return await together()

    async def cut_short_endpoint(request: Request) -> Response:
        return await cut_short()

    return Starlette(routes=[Route("/together", together_endpoint), Route("/cut-short", cut_short_endpoint)])


def fastapi_app(rendezvous: Rendezvous) -> FastAPI:
    together, cut_short = handlers(rendezvous)
    app = FastAPI()
    app.get("/together")(together)
    app.get("/cut-short")(cut_short)
    return app


APPS = {"starlette": starlette_app, "fastapi": fastapi_app}


async def get(port: int, path: str) -> tuple[int, bytes]:
    """One request on its own connection; the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        reply = await reader.read(-1)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def get_all(port: int, path: str) -> list[tuple[int, bytes]]:
    async with asyncio.timeout(HANG_GUARD * 2):
        return await asyncio.gather(*(get(port, path) for _ in range(CONCURRENT)))


@pytest.mark.parametrize("framework", list(APPS))
async def test_waiting_requests_are_served_side_by_side(framework: str) -> None:
    rendezvous = Rendezvous(CONCURRENT)
    app = from_asgi(APPS[framework](rendezvous))
    async with Server(app, Config(host="127.0.0.1", port=0, access_log=False)) as server:
        replies = await get_all(server.port, "/together")
    assert rendezvous.gave_up == 0
    assert rendezvous.arrived == CONCURRENT
    assert replies == [(200, b"together")] * CONCURRENT


@pytest.mark.parametrize("framework", list(APPS))
async def test_anyio_cancels_waits_of_concurrent_requests(framework: str) -> None:
    app = from_asgi(APPS[framework](Rendezvous(CONCURRENT)))
    async with Server(app, Config(host="127.0.0.1", port=0, access_log=False)) as server:
        replies = await get_all(server.port, "/cut-short")
    assert replies == [(200, b"cut short")] * CONCURRENT
