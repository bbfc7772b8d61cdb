"""BackgroundTasks: after the response, in order, errors logged, awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import threading
from collections.abc import AsyncIterator

import pytest

import pyre.spec
from pyre.framework import App, BackgroundTasks, responses
from pyre.framework.testing import TestClient
from pyre.spec.testing import Driver, MemoryRequest


def test_tasks_run_after_the_response_and_shutdown_waits_for_them() -> None:
    released = threading.Event()
    log: list[str] = []

    def slow(entry: str) -> None:
        # Waits for the test, which has the response by then; the timeout only bounds a failure.
        assert released.wait(10), "the test never released the task"
        log.append(entry)

    async def handler(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add(slow, "sent")
        log.append("handler")
        return {"ok": True}

    app = App()
    app.add_endpoint("/", handler, ["POST"])
    with TestClient(app) as client:
        response = client.post("/")
        assert response.json() == {"ok": True}
        assert response.headers["content-length"] == str(len(response.content))
        assert log == ["handler"]  # the client has its answer; the task is still waiting
        # Released only once the client is leaving: its lifespan shutdown must wait for the task.
        threading.Timer(0.2, released.set).start()
    assert log == ["handler", "sent"]


def test_tasks_run_in_order_sync_and_async_and_a_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    async def async_task(entry: str, *, suffix: str) -> None:
        await asyncio.sleep(0)
        log.append(entry + suffix)

    def failing() -> None:
        raise ValueError("mail server down")

    async def handler(tasks: BackgroundTasks) -> str:
        tasks.add(log.append, "first")
        tasks.add(failing)
        tasks.add(async_task, "second", suffix="!")
        return "done"

    app = App()
    app.add_endpoint("/", handler)
    with caplog.at_level(logging.ERROR, logger="pyre.framework"), TestClient(app) as client:
        response = client.get("/")
        assert (response.status_code, response.text) == (200, "done")
    assert log == ["first", "second!"]
    [record] = [record for record in caplog.records if record.name == "pyre.framework"]
    assert "background task" in record.getMessage()
    assert "failing" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_no_task_added_leaves_the_response_as_it_is() -> None:
    async def handler(tasks: BackgroundTasks) -> str:
        return "plain"

    app = App()
    app.add_endpoint("/", handler)
    with TestClient(app) as client:
        response = client.get("/")
    assert isinstance(response.response.body, bytes)


async def test_a_streamed_body_starts_the_tasks_once_exhausted() -> None:
    log: list[str] = []

    async def handler(tasks: BackgroundTasks) -> responses.StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"a", b"b"):
                log.append(f"chunk {part.decode()}")
                yield part

        tasks.add(log.append, "task")
        return responses.StreamingResponse(chunks())

    app = App()
    app.add_endpoint("/", handler)
    async with Driver(app):
        response = await app(MemoryRequest("GET", "/"))
        assert "content-length" not in dict(response.headers)  # a stream stays a stream
        body = response.body
        assert not isinstance(body, bytes | pyre.spec.FileBody)
        iterator = aiter(body)
        assert await anext(iterator) == b"a"
        assert await anext(iterator) == b"b"
        await asyncio.sleep(0.01)
        assert log == ["chunk a", "chunk b"]
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)
        await asyncio.sleep(0.01)
        assert log == ["chunk a", "chunk b", "task"]


async def test_a_body_closed_without_being_read_still_starts_the_tasks() -> None:
    # A server closes the body of a HEAD or 304 response without iterating it (PYRE-ERR-4).
    log: list[str] = []

    async def handler(tasks: BackgroundTasks) -> str:
        tasks.add(log.append, "task")
        return "unsent"

    app = App()
    app.add_endpoint("/", handler)
    async with Driver(app):
        response = await app(MemoryRequest("HEAD", "/"))
        assert dict(response.headers)[b"content-length"] == b"6"
        await response.body.aclose()  # type: ignore[union-attr]
        await response.body.aclose()  # type: ignore[union-attr]  # closing twice starts them once
        await asyncio.sleep(0.01)
        assert log == ["task"]


def test_a_file_response_keeps_its_length() -> None:
    async def handler(tasks: BackgroundTasks) -> responses.FileResponse:
        tasks.add(lambda: None)
        return responses.FileResponse(__file__)

    app = App()
    app.add_endpoint("/", handler)
    with TestClient(app) as client:
        response = client.get("/")
    assert response.content == pathlib.Path(__file__).read_bytes()
    assert response.headers["content-length"] == str(len(response.content))


def test_a_response_returned_to_every_request_is_left_as_it_is() -> None:
    shared = pyre.spec.Response(200, [(b"content-type", b"text/plain")], b"same")
    log: list[str] = []

    async def handler(tasks: BackgroundTasks) -> pyre.spec.Response:
        tasks.add(log.append, "task")
        return shared

    app = App()
    app.add_endpoint("/", handler)
    with TestClient(app) as client:
        assert [client.get("/").text for _ in range(3)] == ["same"] * 3
    assert log == ["task"] * 3
    assert shared.body == b"same"
    assert list(shared.headers) == [(b"content-type", b"text/plain")]


def test_no_content_statuses_get_no_content_length() -> None:
    async def handler(tasks: BackgroundTasks) -> pyre.spec.Response:
        tasks.add(lambda: None)
        return pyre.spec.Response(204)

    app = App()
    app.add_endpoint("/", handler)
    with TestClient(app) as client:
        response = client.get("/")
    assert response.status_code == 204
    assert "content-length" not in response.headers
