"""Errors raised by pyre-framework: two roots, as httpx keeps run-time errors apart from usage errors.

The tree::

    Exception
    ├── HTTPException                run time: answer this request with a status (raised by
    │   │                            handlers, hooks, middleware and the request helpers)
    │   └── RequestValidationError   422: a query/header/cookie/body value did not convert
    └── FrameworkError               assembly time: the app was put together wrongly
        ├── RouteError               a route or endpoint could not be registered
        │   └── RouteConflict        two routes would match the same requests
        ├── ConverterError           an unknown converter or bad converter arguments
        ├── URLBuildError            ``url_for`` got an unknown name or wrong parameters
        └── ExtensionError           an extension could not be loaded, unloaded or reloaded

``HTTPException`` is control flow: the app turns it into a response, and
nothing else of the framework is one, so an ``except FrameworkError`` in a
middleware never swallows a 404.  A ``FrameworkError`` is a programming error,
raised while the app is being assembled (or by a ``url_for`` that cannot
build its URL), never as an answer to a client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyre.spec


class HTTPException(Exception):
    """Stop handling the request and answer with ``status``.

    ``detail`` becomes the JSON body ``{"detail": ...}``; it defaults to the
    status's reason phrase as RFC 9110 names it (``pyre.spec.REASON_PHRASES``).
    ``headers`` are added to the error response (for example ``Allow`` on a
    405 or ``WWW-Authenticate`` on a 401).
    """

    def __init__(self, status: int, detail: Any = None, headers: Mapping[str, str] | None = None) -> None:
        if detail is None:
            detail = pyre.spec.REASON_PHRASES.get(status, "Error")
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers: Mapping[str, str] = headers or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, detail={self.detail!r})"


class RequestValidationError(HTTPException):
    """Values from the request did not convert to the handler's parameter types.

    ``errors`` is a list of ``{"loc": [source, name, ...], "msg": str, "type": str}``,
    one per failing value, sent to the client as the ``detail``.
    """

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(422, [dict(error) for error in errors])
        self.errors = self.detail


class FrameworkError(Exception):
    """Root of the usage errors: the app, a route, a converter or an extension was set up wrongly."""


class RouteError(FrameworkError):
    """A route or endpoint could not be registered."""


class RouteConflict(RouteError):
    """Two routes would answer the same method on the same paths."""


class ConverterError(FrameworkError):
    """An unknown converter name, bad converter arguments, or an unconvertible annotation."""


class URLBuildError(FrameworkError, LookupError):
    """``url_for`` was given an unknown endpoint name or parameters that do not fit its path."""


class ExtensionError(FrameworkError):
    """An extension module could not be loaded, unloaded or reloaded."""


__all__ = [
    "ConverterError",
    "ExtensionError",
    "FrameworkError",
    "HTTPException",
    "RequestValidationError",
    "RouteConflict",
    "RouteError",
    "URLBuildError",
]
