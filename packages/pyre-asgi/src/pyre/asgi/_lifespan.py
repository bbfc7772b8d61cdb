"""The ASGI lifespan protocol, seen from the server's side (for ``from_asgi``).

The app's lifespan call runs in its own Task for the server's lifetime:
``lifespan.startup`` goes in on enter, ``lifespan.shutdown`` on exit.  An app
that raises (or returns) before answering startup does not support lifespan
and is served anyway, as uvicorn's ``--lifespan auto`` does, unless lifespan is
required (``--lifespan on``); an app that answers ``lifespan.startup.failed``
stops the server with its own message.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from pyre.spec import State

from ._errors import ASGIProtocolError, LifespanFailure
from ._types import ASGI_VERSION, ASGIApp, Message

logger = logging.getLogger("pyre.asgi")

_REPLIES = frozenset(
    {
        "lifespan.startup.complete",
        "lifespan.startup.failed",
        "lifespan.shutdown.complete",
        "lifespan.shutdown.failed",
    }
)


class LifespanRunner:
    """An async context manager running ``app``'s lifespan with ``state`` as the lifespan state."""

    def __init__(self, app: ASGIApp, state: State, required: bool = False) -> None:
        self.app = app
        self.state = state
        self.required = required
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def __aenter__(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": ASGI_VERSION, "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.get_running_loop().create_task(self._run(scope))
        self._to_app.put_nowait({"type": "lifespan.startup"})
        reply = await self._reply()
        if reply is None:
            if self.required:
                raise LifespanFailure(f"the ASGI application does not support lifespan ({self._error!r})")
            logger.info("ASGI 'lifespan' protocol appears unsupported (%r); serving without it.", self._error)
            return
        if reply["type"] == "lifespan.startup.failed":
            await self._task
            raise LifespanFailure(reply.get("message", "") or "ASGI application startup failed")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = self._task
        if task is None or task.done():
            return
        self._to_app.put_nowait({"type": "lifespan.shutdown"})
        reply = await self._reply()
        await task
        if reply is None:
            if self._error is not None:
                raise LifespanFailure(f"ASGI application shutdown raised {self._error!r}") from self._error
            return
        if reply["type"] == "lifespan.shutdown.failed":
            raise LifespanFailure(reply.get("message", "") or "ASGI application shutdown failed")

    async def _run(self, scope: Message) -> None:
        try:
            await self.app(scope, self._to_app.get, self._send)
        except Exception as error:
            self._error = error

    async def _send(self, message: Message) -> None:
        if message["type"] not in _REPLIES:
            # Raised inside the app: an app answering lifespan with HTTP messages does not support it.
            raise ASGIProtocolError(f"unexpected ASGI message {message['type']!r} in the lifespan scope")
        await self._from_app.put(message)

    async def _reply(self) -> Message | None:
        """The app's next message, or None when the app's lifespan call has ended first."""
        assert self._task is not None
        if not self._from_app.empty() or self._task.done():
            return None if self._from_app.empty() else self._from_app.get_nowait()
        getter = asyncio.ensure_future(self._from_app.get())
        try:
            await asyncio.wait((getter, self._task), return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None if self._from_app.empty() else self._from_app.get_nowait()
