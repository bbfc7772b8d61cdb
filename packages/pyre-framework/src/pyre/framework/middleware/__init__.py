"""The middleware protocol and how chains are built.

A middleware is any object with::

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response

``call_next(request)`` runs the rest of the chain (inner middleware, then the
endpoint) and returns its response, already coerced from the handler's return
value.  A middleware may return without calling it (short-circuit), pass a
modified request, or modify or replace the response.

Order, outermost first: app middleware, then blueprint middleware, then the
endpoint's own.  Within each list the first entry is the outermost.  Chains are
composed once per endpoint when the app starts, so an endpoint without any
middleware calls its handler directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

import pyre.spec

if TYPE_CHECKING:
    from ..requests import Request

CallNext: TypeAlias = "Callable[[Request], Awaitable[pyre.spec.Response]]"
"""The rest of the chain: takes the request, returns the response."""


class Middleware(Protocol):
    """Wraps request handling; see the module docstring."""

    def __call__(self, request: Request, call_next: CallNext, /) -> Awaitable[pyre.spec.Response]: ...


def compose(middleware: Sequence[Middleware], handler: CallNext) -> CallNext:
    """``handler`` wrapped in ``middleware``, the first entry outermost.

    With no middleware this returns ``handler`` itself: nothing is added.
    """
    for layer in reversed(middleware):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, call_next: CallNext) -> CallNext:
    def call(request: Request) -> Awaitable[pyre.spec.Response]:
        return layer(request, call_next)

    return call


# Imported last: sessions.py needs CallNext from this module.  Here because request.session needs it.
from .sessions import SessionMiddleware as SessionMiddleware  # noqa: E402

__all__ = ["CallNext", "Middleware", "SessionMiddleware", "compose"]
