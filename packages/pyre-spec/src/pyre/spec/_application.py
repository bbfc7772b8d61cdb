"""The application and its lifespan (spec sections 2 and 7)."""

from __future__ import annotations

from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from ._request import Request, State
from ._response import Response
from ._version import ServerInfo


class Application(Protocol):
    """Called once per request with the request; returns the final response (section 2).

    Any ``async def app(request) -> Response`` is an Application.
    """

    def __call__(self, request: Request, /) -> Awaitable[Response]: ...


@runtime_checkable
class HasLifespan(Protocol):
    """An application that wants startup and shutdown (section 7, PYRE-LIFE-1).

    The server enters the returned context manager before accepting the first
    connection and exits it after the last request has finished.  What the app
    puts in ``state`` during startup is ``request.state`` for every request.
    """

    def lifespan(self, server: ServerInfo, state: State, /) -> AbstractAsyncContextManager[None]: ...
