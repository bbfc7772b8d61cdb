"""Background tasks: work a handler leaves for after its response is sent.

::

    @framework.endpoint("/signup", methods=["POST"])
    async def signup(self, user: User, tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add(send_welcome_mail, user.email)
        return {"status": "ok"}

A handler (or a dependency) asks for ``BackgroundTasks`` by annotation.  When
it added any task, its response's body is wrapped so that the tasks start once
the server is done with the body: exhausted after the last chunk was handed
to the transport, or closed early (``HEAD``, ``304``, a client that left) —
pyre-spec promises one or the other (PYRE-ERR-4).  They run in order in one
asyncio task of the app, so the connection is free for the next request; a
task that raises is logged (logger ``pyre.framework``) and the next one runs.
The app's lifespan shutdown waits for the tasks still running before its
shutdown hooks.

The tasks ride on the response the handler returned: a middleware that
replaces that response (rather than changing its headers) drops them.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pyre.spec

logger = logging.getLogger("pyre.framework")


class BackgroundTasks:
    """The tasks of one request, run in order after its response is sent."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def add(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``func(*args, **kwargs)`` after the response: awaited if it is a coroutine function, in a
        worker thread otherwise."""
        self._tasks.append((func, args, kwargs))

    def __len__(self) -> int:
        return len(self._tasks)

    async def run(self) -> None:
        """Run every task in order; one that raises is logged and the next one runs."""
        for func, args, kwargs in self._tasks:
            try:
                if inspect.iscoroutinefunction(func):
                    await func(*args, **kwargs)
                else:
                    await asyncio.to_thread(func, *args, **kwargs)
            except Exception:
                logger.exception("background task %r failed", func)


async def attach(
    tasks: BackgroundTasks, response: pyre.spec.Response, start: Callable[[BackgroundTasks], None]
) -> pyre.spec.Response:
    """A copy of ``response`` whose body calls ``start(tasks)`` once the server is done with it.

    A copy, because a handler may return one response object to many requests.
    A ``bytes`` or file body becomes a stream; its ``content-length`` is given
    so that it is still sent length-delimited rather than chunked.
    """
    body = response.body
    length: int | None = None
    if isinstance(body, bytes):
        length = len(body)
        chunks: AsyncIterator[bytes] = _once(body)
    elif isinstance(body, pyre.spec.FileBody):
        reader = await pyre.spec.open_file_body(body)
        length = reader.length
        chunks = reader
    else:
        chunks = aiter(body)
    response = copy.copy(response)
    if (
        length is not None
        and response.status >= 200
        and response.status not in pyre.spec.STATUSES_WITHOUT_CONTENT
    ):
        headers = list(response.headers)
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", b"%d" % length))
        response.headers = headers
    response.body = ThenStart(chunks, lambda: start(tasks))
    return response


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


class ThenStart:
    """A response body that calls ``done`` once, when it is exhausted, fails or is closed.

    Not an async generator: one that never started ignores ``aclose()``, and a
    body that is never iterated (``HEAD``) must still start its tasks.
    """

    __slots__ = ("_chunks", "_done")

    def __init__(self, chunks: AsyncIterator[bytes], done: Callable[[], None]) -> None:
        self._chunks = chunks
        self._done: Callable[[], None] | None = done

    def __aiter__(self) -> ThenStart:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except BaseException:  # StopAsyncIteration included: the server is done with the body
            self._finish()
            raise

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._finish()

    def _finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()
