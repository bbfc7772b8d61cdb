"""Telling ASGI applications from pyre-spec applications, and ASGI 2 from ASGI 3.

An ASGI 3 application is called as ``app(scope, receive, send)``; an ASGI 2
application is a "double callable": ``app(scope)`` returns an instance that is
then awaited as ``instance(receive, send)``.  A pyre-spec application takes
one positional argument, the request.  asgiref's ``_asgi_single_callable`` /
``_asgi_double_callable`` markers win over any guess, as in asgiref.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from ._types import ASGIApp, Receive, Scope, Send


def is_asgi_app(obj: Any) -> bool:
    """Whether ``obj`` looks like an ASGI application (3.0, or 2.0 class-style), not a pyre-spec one."""
    if not callable(obj):
        return False
    if getattr(obj, "_asgi_single_callable", False) or getattr(obj, "_asgi_double_callable", False):
        return True
    if inspect.isclass(obj):
        if _instances_are_awaitable(obj):  # ``await Endpoint(scope, receive, send)``: ASGI 3
            return True
        call = inspect.getattr_static(obj, "__call__", None)
        return inspect.isfunction(call) and _takes_positional(call, 2, skip_self=True)
    return _takes_positional(obj, 3)


def is_asgi2_app(obj: Any) -> bool:
    """Whether ``obj`` is an ASGI 2 double callable rather than an ASGI 3 single callable."""
    if getattr(obj, "_asgi_double_callable", False):
        return True
    if getattr(obj, "_asgi_single_callable", False):
        return False
    if inspect.isclass(obj):
        # A class is ASGI 2 (``Endpoint(scope)`` returns the callable), unless its
        # instances are awaitable: then calling it with all three arguments and
        # awaiting the instance is ASGI 3, as uvicorn and asgiref decide.
        return not _instances_are_awaitable(obj)
    return not _takes_positional(obj, 3) and not inspect.iscoroutinefunction(obj)


def as_asgi3(app: Any) -> ASGIApp:
    """``app`` itself when it is ASGI 3, else an ASGI 3 callable driving the ASGI 2 app."""
    if not is_asgi2_app(app):
        return cast(ASGIApp, app)
    return ASGI2Adapter(app)


class ASGI2Adapter:
    """``adapter(scope, receive, send)`` runs ``app(scope)(receive, send)``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def _takes_positional(function: object, count: int, *, skip_self: bool = False) -> bool:
    """Whether ``function`` can be called with exactly ``count`` positional arguments."""
    if function is None:
        return False
    try:
        parameters = list(inspect.signature(function).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if skip_self and parameters:
        parameters = parameters[1:]
    required = 0
    accepted = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return required <= count
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            accepted += 1
            if parameter.default is inspect.Parameter.empty:
                required += 1
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            return False
    return required <= count <= accepted


def _instances_are_awaitable(cls: type) -> bool:
    return inspect.getattr_static(cls, "__await__", None) is not None
