"""Running a request handler without an ``asyncio.Task``.

Most handlers finish without ever waiting on I/O.  Wrapping each in a Task
costs an allocation, a ``call_soon`` and a trip through the event loop before
the response can be written.  ``RequestTask`` steps the handler's coroutine
itself, inside the request's own ``contextvars.Context``, and writes the
response in the same callback when the coroutine returns at once.

When the coroutine does wait, ``RequestTask`` resumes it exactly as
``asyncio.Task`` would (the ``_asyncio_future_blocking`` protocol, a bare
``yield`` meaning "run me again soon", cancellation delivered into the
coroutine), and it registers itself as the loop's current task while the
coroutine runs, so ``asyncio.current_task()``, ``asyncio.timeout``,
``asyncio.TaskGroup`` and anyio's cancel scopes work inside handlers.  It has
the parts of the Task interface those use.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType
from typing import Any

# asyncio's own bookkeeping of the running task per loop; what current_task() reads.
_enter_task: Callable[[asyncio.AbstractEventLoop, Any], None] = asyncio.tasks._enter_task
_leave_task: Callable[[asyncio.AbstractEventLoop, Any], None] = asyncio.tasks._leave_task

Outcome = Callable[["RequestTask", Any, BaseException | None], None]


class RequestTask:
    """Steps one coroutine (a request's handler, then its response streaming) like a Task."""

    __slots__ = (
        "_loop",
        "_context",
        "_coro",
        "_outcome",
        "_fut_waiter",
        "_must_cancel",
        "_cancel_message",
        "_num_cancels_requested",
        "_done",
        "_callbacks",
        "__weakref__",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, context: contextvars.Context, outcome: Outcome
    ) -> None:
        self._loop = loop
        self._context = context
        self._coro: Coroutine[Any, Any, Any] | None = None
        self._outcome = outcome
        self._fut_waiter: asyncio.Future[Any] | None = None
        self._must_cancel = False
        self._cancel_message: str | None = None
        self._num_cancels_requested = 0
        self._done = False
        self._callbacks: list[tuple[Callable[[Any], object], contextvars.Context]] | None = None

    def run(self, function: Callable[[Any], Awaitable[Any]], argument: Any) -> None:
        """Call ``function(argument)`` in this task's context and step the awaitable it returns."""
        self._context.run(self._start, function, argument)

    def _start(self, function: Callable[[Any], Awaitable[Any]], argument: Any) -> None:
        try:
            awaitable = function(argument)
        except BaseException as error:
            failure = error
        else:
            self._coro = awaitable if type(awaitable) is CoroutineType else _as_coroutine(awaitable)
            self._step()
            return
        self._finish(None, failure)  # outside the except clause, as in _step

    def continue_with(self, coro: Coroutine[Any, Any, Any], outcome: Outcome) -> None:
        """From an outcome callback: go on as the same task with a second coroutine."""
        self._coro = coro
        self._outcome = outcome
        self._step()

    def _step(self, exc: BaseException | None = None) -> None:
        if self._must_cancel:
            exc = asyncio.CancelledError(self._cancel_message)
            self._must_cancel = False
        self._fut_waiter = None
        coro = self._coro
        assert coro is not None
        loop = self._loop
        _enter_task(loop, self)
        error: BaseException | None = None
        try:
            yielded = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration as stop:
            result = stop.value
        except (KeyboardInterrupt, SystemExit):
            _leave_task(loop, self)
            raise
        except BaseException as failure:
            result = None
            error = failure
        else:
            _leave_task(loop, self)
            self._suspend(yielded)
            return
        _leave_task(loop, self)
        # Outside the except clauses: whatever the outcome raises or logs would otherwise
        # carry the coroutine's StopIteration (or its error) as its __context__.
        self._finish(result, error)

    def _suspend(self, yielded: Any) -> None:
        blocking = getattr(yielded, "_asyncio_future_blocking", None)
        if blocking is None:
            if yielded is None:  # a bare ``yield``, as in asyncio.sleep(0): run again soon
                self._loop.call_soon(self._step, context=self._context)
            else:
                self._throw_soon(RuntimeError(f"request handler yielded {yielded!r}, not a future"))
            return
        if yielded.get_loop() is not self._loop:
            self._throw_soon(RuntimeError(f"request handler awaited {yielded!r} of another event loop"))
            return
        if not blocking:
            self._throw_soon(RuntimeError("yield was used instead of yield from in a request handler"))
            return
        yielded._asyncio_future_blocking = False
        yielded.add_done_callback(self._wakeup, context=self._context)
        self._fut_waiter = yielded
        if self._must_cancel and yielded.cancel(msg=self._cancel_message):
            self._must_cancel = False

    def _throw_soon(self, error: BaseException) -> None:
        self._loop.call_soon(self._step, error, context=self._context)

    def _wakeup(self, future: asyncio.Future[Any]) -> None:
        try:
            future.result()
        except BaseException as error:
            # Inside the except clause, as asyncio.Task does: an exception raised in the
            # coroutine then has this one as its context, and anyio finds its cancel
            # scope's message along that chain.
            self._step(error)
        else:
            self._step()

    def _finish(self, result: Any, error: BaseException | None) -> None:
        outcome = self._outcome
        coro = self._coro
        outcome(self, result, error)
        if self._coro is coro:  # the outcome did not continue with another coroutine
            self._done = True
            if self._callbacks is not None:
                callbacks, self._callbacks = self._callbacks, None
                for callback, context in callbacks:
                    self._loop.call_soon(callback, self, context=context)

    # The asyncio.Task interface, as far as asyncio and anyio use it on current_task().

    def cancel(self, msg: str | None = None) -> bool:
        if self._done:
            return False
        self._num_cancels_requested += 1
        waiter = self._fut_waiter
        if waiter is not None and waiter.cancel(msg=msg):
            return True
        self._must_cancel = True
        self._cancel_message = msg
        return True

    def cancelling(self) -> int:
        return self._num_cancels_requested

    def uncancel(self) -> int:
        if self._num_cancels_requested > 0:
            self._num_cancels_requested -= 1
            if self._num_cancels_requested == 0:
                self._must_cancel = False
        return self._num_cancels_requested

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return False

    def get_coro(self) -> Coroutine[Any, Any, Any] | None:
        return self._coro

    def get_context(self) -> contextvars.Context:
        return self._context

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def get_name(self) -> str:
        return f"pyre-request-{id(self):x}"

    def add_done_callback(
        self, callback: Callable[[Any], object], *, context: contextvars.Context | None = None
    ) -> None:
        if self._done:
            self._loop.call_soon(callback, self, context=context)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append((callback, context or contextvars.copy_context()))

    def remove_done_callback(self, callback: Callable[[Any], object]) -> int:
        if not self._callbacks:
            return 0
        kept = [entry for entry in self._callbacks if entry[0] != callback]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def __repr__(self) -> str:
        state = "done" if self._done else "pending"
        return f"<RequestTask {state} coro={self._coro!r}>"


def _as_coroutine(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    """Coroutines of other types (Cython's) are stepped as they are; other awaitables are awaited."""
    if isinstance(awaitable, Coroutine):
        return awaitable

    async def wait() -> Any:
        return await awaitable

    return wait()
