"""The validated application and its lifespan (spec sections 2 and 7)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from ..._application import Application, HasLifespan
from ..._request import Request, State
from ..._response import Response
from ..._version import ServerInfo
from ._request import check_request
from ._response import check_response
from ._violation import SpecViolation, check_task


def validate(app: Application) -> Application:
    """Wrap ``app`` so that every call checks the server's request and the app's response.

    The result has a ``lifespan`` exactly when ``app`` has one.
    """
    if isinstance(app, HasLifespan):
        return _ValidatedLifespanApp(app, app)
    return _ValidatedApp(app)


class _Run:
    """What the validator knows about the current server run of one application."""

    __slots__ = ("phase", "state", "server_info", "active")

    def __init__(self) -> None:
        self.phase = "idle"
        self.state: State | None = None
        self.server_info: ServerInfo | None = None
        self.active = 0


class _ValidatedApp:
    _has_lifespan = False

    def __init__(self, app: Application) -> None:
        self._app = app
        self._run = _Run()

    async def __call__(self, request: Request, /) -> Response:
        run = self._run
        if self._has_lifespan:
            if run.phase in ("idle", "starting"):
                raise SpecViolation(
                    "PYRE-LIFE-3", "the application was called before lifespan startup finished"
                )
            if run.phase in ("stopping", "stopped"):
                raise SpecViolation("PYRE-LIFE-4", "the application was called after lifespan shutdown began")
        check_task("the application")
        checked = check_request(request, run.state, run.server_info)
        awaitable = self._app(checked)
        if not hasattr(awaitable, "__await__"):
            raise SpecViolation("PYRE-APP-1", f"the application returned {awaitable!r}, not an awaitable")
        run.active += 1
        try:
            response = await awaitable
        finally:
            run.active -= 1
            checked.app_returned = True
        return check_response(response, checked)


class _ValidatedLifespanApp(_ValidatedApp):
    _has_lifespan = True

    def __init__(self, app: Application, lifespan_app: HasLifespan) -> None:
        super().__init__(app)
        self._lifespan_app = lifespan_app

    def lifespan(self, server: ServerInfo, state: State, /) -> AbstractAsyncContextManager[None]:
        run = self._run
        if run.phase in ("starting", "running", "stopping"):
            raise SpecViolation("PYRE-LIFE-3", "lifespan was called again while a lifespan is active")
        server_object: object = server
        if not isinstance(server_object, ServerInfo):
            raise SpecViolation("PYRE-LIFE-3", f"lifespan was given {server_object!r}, not a ServerInfo")
        state_object: object = state
        if not isinstance(state_object, MutableMapping) or len(state_object) != 0:
            raise SpecViolation("PYRE-LIFE-3", f"lifespan was given {state_object!r}, not a new empty dict")
        manager: object = self._lifespan_app.lifespan(server, state)
        if not (hasattr(manager, "__aenter__") and hasattr(manager, "__aexit__")):
            raise SpecViolation("PYRE-LIFE-2", f"lifespan returned {manager!r}, not an async context manager")
        self._run = run = _Run()
        run.state = state
        run.server_info = server
        return _CheckedLifespan(manager, run)


class _CheckedLifespan:
    def __init__(self, manager: AbstractAsyncContextManager[object], run: _Run) -> None:
        self._manager = manager
        self._run = run
        self._task: asyncio.Task[object] | None = None

    async def __aenter__(self) -> None:
        self._run.phase = "starting"
        self._task = asyncio.current_task()
        try:
            await self._manager.__aenter__()
        except BaseException:
            self._run.phase = "stopped"  # a failed startup ends the run; a new one may begin
            raise
        self._run.phase = "running"

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        run = self._run
        violation = None
        if asyncio.current_task() is not self._task:
            violation = SpecViolation(
                "PYRE-LIFE-5", "lifespan was exited in another task than it was entered in"
            )
        elif run.active:
            violation = SpecViolation(
                "PYRE-LIFE-4", f"lifespan shutdown began with {run.active} request(s) running"
            )
        run.phase = "stopping"
        try:
            suppress = await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            run.phase = "stopped"
        if violation is not None:
            raise violation
        return suppress
