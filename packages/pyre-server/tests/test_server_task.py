"""Handlers run without an asyncio.Task, yet behave as if they had one."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from server_support import connect, serve

from pyre.spec import Request, Response

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def get(port_app: object, count: int = 1) -> list[bytes]:
    async with serve(port_app) as server, connect(server) as client:  # type: ignore[arg-type]
        await client.send(GET * count)
        return [(await client.reply()).body for _ in range(count)]


async def test_a_handler_that_does_not_suspend_runs_without_an_asyncio_task() -> None:
    async def app(request: Request) -> Response:
        task = asyncio.current_task()
        return Response(200, body=type(task).__name__.encode())

    assert await get(app) == [b"RequestTask"]


async def test_current_task_is_set_and_stable_across_awaits() -> None:
    async def app(request: Request) -> Response:
        before = asyncio.current_task()
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        after = asyncio.current_task()
        return Response(200, body=b"%d" % (before is not None and before is after))

    assert await get(app, 2) == [b"1", b"1"]


async def test_asyncio_timeout_cancels_a_suspended_handler() -> None:
    async def app(request: Request) -> Response:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)
        except TimeoutError:
            task = asyncio.current_task()
            assert task is not None
            return Response(200, body=b"timed out, cancelling=%d" % task.cancelling())
        return Response(200, body=b"no timeout")

    assert await get(app) == [b"timed out, cancelling=0"]


async def test_wait_for_and_shield_inside_a_handler() -> None:
    async def app(request: Request) -> Response:
        try:
            await asyncio.wait_for(asyncio.sleep(10), 0.01)
        except TimeoutError:
            pass
        value = await asyncio.shield(asyncio.sleep(0, result=b"shielded"))
        return Response(200, body=value)

    assert await get(app) == [b"shielded"]


async def test_each_request_has_its_own_context() -> None:
    async def app(request: Request) -> Response:
        seen = request_id.get()
        request_id.set("set by an earlier request")
        await asyncio.sleep(0)
        return Response(200, body=seen.encode())

    assert await get(app, 3) == [b"unset"] * 3


async def test_context_is_kept_across_suspension_and_into_child_tasks() -> None:
    async def child() -> str:
        return request_id.get()

    async def app(request: Request) -> Response:
        request_id.set(request.path)
        await asyncio.sleep(0.001)
        inherited = await asyncio.create_task(child())
        return Response(200, body=f"{request_id.get()} {inherited}".encode())

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.reply()).body == b"/one /one"
        assert (await client.reply()).body == b"/two /two"


async def test_task_group_inside_a_handler() -> None:
    async def work(n: int) -> int:
        await asyncio.sleep(0.001 * n)
        return n * n

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("child failed")

    async def app(request: Request) -> Response:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(work(n)) for n in range(4)]
        total = sum(task.result() for task in tasks)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fails())
                group.create_task(asyncio.sleep(10))
        except* ValueError:
            pass
        return Response(200, body=b"%d" % total)

    assert await get(app) == [b"14"]


async def test_cancelling_the_current_task_delivers_cancelled_error_into_the_handler() -> None:
    async def app(request: Request) -> Response:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_later(0.01, task.cancel)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            task.uncancel()
            return Response(200, body=b"caught")
        return Response(200, body=b"not cancelled")

    assert await get(app) == [b"caught"]


async def test_anyio_cancel_scopes_and_task_groups_inside_a_handler() -> None:
    anyio = pytest.importorskip("anyio")  # what Starlette (through pyre-asgi) runs on

    async def app(request: Request) -> Response:
        with anyio.move_on_after(0.01) as scope:
            await anyio.sleep(10)
        finished = []

        async def child(n: int) -> None:
            await anyio.sleep(0.001)
            finished.append(n)

        async with anyio.create_task_group() as group:
            for n in range(3):
                group.start_soon(child, n)
        return Response(200, body=f"{scope.cancelled_caught} {sorted(finished)}".encode())

    assert await get(app, 2) == [b"True [0, 1, 2]"] * 2
