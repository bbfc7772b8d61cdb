"""Depends and BackgroundTasks over real sockets: pyre-server, and uvicorn through ``to_asgi``.

The background task waits on an event the test sets only once it has read the
whole response, so "after the response" is checked without any timing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from asgi_apps.in_process import SERVERS

from pyre.framework import App, BackgroundTasks, Depends, HTTPException, Request, responses

HANG_GUARD = 30.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""


class Todos:
    """The todo example's injection in small: a transaction, a guard, a background task."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.released = asyncio.Event()
        self.app = App()
        self.app.state.todos = self
        self.app.add_endpoint("/todos", create, ["POST"])
        self.app.add_endpoint("/fail", fail, ["POST"])

    async def record_later(self, entry: str) -> None:
        await asyncio.wait_for(self.released.wait(), HANG_GUARD)
        self.log.append(entry)


async def transaction(request: Request) -> AsyncIterator[Todos]:
    todos: Todos = request.app.state.todos
    todos.log.append("begin")
    try:
        yield todos
    except HTTPException as exc:
        todos.log.append(f"rollback {exc.status}")
        raise
    todos.log.append("end")


def current_user(request: Request) -> str:
    user = request.headers.get("x-user")
    if user is None:
        raise HTTPException(401)
    return user


async def create(
    tasks: BackgroundTasks, todos: Annotated[Todos, Depends(transaction)], user: str = Depends(current_user)
) -> dict[str, str]:
    todos.log.append("handler")
    tasks.add(todos.record_later, f"created by {user}")
    return {"user": user}


async def fail(todos: Annotated[Todos, Depends(transaction)]) -> None:
    todos.log.append("handler")
    raise HTTPException(409)


@pytest.mark.parametrize("serve", list(SERVERS))
async def test_cleanup_after_the_handler_and_the_task_after_the_response(serve: str) -> None:
    service = Todos()
    async with (
        SERVERS[serve](service.app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG_GUARD) as client,
    ):
        response = await client.post("/todos", headers={"X-User": "ada"})
        assert (response.status_code, response.json()) == (200, {"user": "ada"})
        # The whole response is here, the task still waits: cleanup ran, the task did not.
        assert service.log == ["begin", "handler", "end"]
        service.released.set()
        for _ in range(int(HANG_GUARD / 0.01)):
            if len(service.log) == 4:
                break
            await asyncio.sleep(0.01)
        assert service.log == ["begin", "handler", "end", "created by ada"]

        # The guard's HTTPException is the response; the transaction sees it thrown in.
        service.log.clear()
        response = await client.post("/todos")
        assert response.status_code == 401
        assert service.log == ["begin", "rollback 401"]

        service.log.clear()
        response = await client.post("/fail")
        assert response.status_code == 409
        assert service.log == ["begin", "handler", "rollback 409"]


@pytest.mark.parametrize("serve", list(SERVERS))
async def test_tasks_start_only_once_the_body_is_sent(serve: str) -> None:
    # The body stops after its first chunk until the test, which has read that chunk, lets it go on:
    # a task started any earlier than the end of the body is seen.
    log: list[str] = []
    more = asyncio.Event()

    async def handler(tasks: BackgroundTasks) -> responses.StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first,"
            await asyncio.wait_for(more.wait(), HANG_GUARD)
            yield b"last"

        tasks.add(log.append, "task")
        return responses.StreamingResponse(chunks())

    app = App()
    app.add_endpoint("/", handler)
    async with (
        SERVERS[serve](app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG_GUARD) as client,
    ):
        async with client.stream("GET", "/") as response:
            received = aiter(response.aiter_raw())
            try:
                assert await anext(received) == b"first,"
                await asyncio.sleep(0.05)  # room for a task started too early to run
                assert log == []
            finally:
                more.set()  # a failure above must not leave the body waiting
            assert b"".join([chunk async for chunk in received]) == b"last"
        for _ in range(int(HANG_GUARD / 0.01)):
            if log:
                break
            await asyncio.sleep(0.01)
        assert log == ["task"]


@pytest.mark.parametrize("serve", list(SERVERS))
async def test_shutdown_waits_for_a_pending_task(serve: str) -> None:
    service = Todos()
    async with SERVERS[serve](service.app) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG_GUARD) as client:
            response = await client.post("/todos", headers={"X-User": "bob"})
            assert response.status_code == 200
        assert service.log == ["begin", "handler", "end"]
        # Released only once the server is stopping: the shutdown must wait for the task to finish.
        asyncio.get_running_loop().call_later(0.2, service.released.set)
    assert service.log == ["begin", "handler", "end", "created by bob"]


@pytest.mark.parametrize("serve", list(SERVERS))
async def test_a_failing_task_is_logged_and_never_reaches_the_client(
    serve: str, caplog: pytest.LogCaptureFixture
) -> None:
    def failing() -> None:
        raise ValueError("mail server down")

    async def handler(tasks: BackgroundTasks) -> str:
        tasks.add(failing)
        return "queued"

    app = App()
    app.add_endpoint("/", handler)
    with caplog.at_level(logging.ERROR, logger="pyre.framework"):
        async with (
            SERVERS[serve](app) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG_GUARD) as client,
        ):
            first = await client.get("/")
            second = await client.get("/")  # the same connection still answers
    assert (first.status_code, first.text, second.text) == (200, "queued", "queued")
    failures = [record for record in caplog.records if record.name == "pyre.framework"]
    assert len(failures) == 2
    assert all(
        record.exc_info is not None and isinstance(record.exc_info[1], ValueError) for record in failures
    )
