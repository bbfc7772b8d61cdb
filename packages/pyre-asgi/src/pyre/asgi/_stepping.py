"""Running an ASGI app's coroutine inside the task that awaits the bridge.

``from_asgi`` cannot simply ``await`` the ASGI app: the server needs the
response (and, for a WebSocket, the handshake answer) while the app is still
running.  Starting a Task per request would cost the fast path and would also
move the app from one task to another halfway, which anyio cancel scopes and
``asyncio.timeout`` forbid.  So the bridge steps the coroutine itself:
``drive`` is ``await`` with a goal checked between steps.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


class AppStepper:
    """An ASGI app's coroutine, stepped by ``drive`` towards goals its subclass defines."""

    __slots__ = ("coro", "signal", "stepping", "finished", "wake")

    def __init__(self) -> None:
        self.coro: Coroutine[Any, None, None] | Generator[Any, None, None] | None = None
        """The app's coroutine, or the iterator of another awaitable."""
        self.signal: asyncio.Future[Any] | None = None
        """What the coroutine last yielded: the future it waits on, or None (a bare yield)."""
        self.stepping = False
        """True while the coroutine runs: a ``send`` seen then comes from the app's own task."""
        self.finished = False
        self.wake: asyncio.Future[None] | None = None

    def reached(self, goal: int) -> bool:
        """Whether the server has what it is waiting for."""
        raise NotImplementedError

    def release(self) -> None:
        """Called before each step ``drive`` takes: let go of what the app waits on from the server."""

    def returned(self) -> None:
        """Called once when the coroutine has ended, normally or not."""

    def step(self, error: BaseException | None = None) -> None:
        """Run the coroutine to its next wait or its end, first raising ``error`` where it waits."""
        coro = self.coro
        assert coro is not None
        self.stepping = True
        try:
            self.signal = coro.send(None) if error is None else coro.throw(error)
        except StopIteration:
            self._end()
        except BaseException:
            self._end()
            raise
        finally:
            self.stepping = False

    def _end(self) -> None:
        self.finished = True
        self.signal = None
        self.returned()

    def wake_driver(self) -> None:
        """Make a waiting ``drive`` look at its goal again (something happened in another task)."""
        wake = self.wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def wake_up(self, future: asyncio.Future[Any]) -> None:
        """Done-callback on the future the app waits on, while ``drive`` waits."""
        self.wake_driver()


@types.coroutine
def drive(app: AppStepper, goal: int) -> Generator[Any, None, None]:
    """Step ``app`` inside the awaiting task until it has reached ``goal`` or returned.

    This is what ``await`` does for a coroutine, with the goal checked between
    steps, and one difference: while the app waits on a future the task waits
    on a "wake" future, which that future completes, and so can a ``send`` from
    another task (``wake_driver``).
    """
    while not app.finished and not app.reached(goal):
        app.release()
        signal = app.signal
        if signal is None:
            try:
                yield None
            except GeneratorExit:
                raise
            except BaseException as error:
                app.step(error)
                continue
            app.step()
            continue
        if signal.done():
            app.step()
            continue
        wake: asyncio.Future[None] = signal.get_loop().create_future()
        app.wake = wake
        signal.add_done_callback(app.wake_up)
        # What was thrown into the wait, handled after the finally: mypyc compiles no
        # ``continue`` inside a try/finally.
        thrown: BaseException | None = None
        try:
            yield from wake
        except GeneratorExit:
            raise
        except BaseException as error:
            thrown = error
        finally:
            signal.remove_done_callback(app.wake_up)
            app.wake = None
        # The task driving us was cancelled: cancel what the app waits on, as Task.cancel() does.
        if thrown is not None and not signal.cancel():
            app.step(thrown)
