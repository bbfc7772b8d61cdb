"""How an exception becomes a response: the handler lookup and the default error pages.

The app and each blueprint keep their exception handlers by key: an exception
class (its subclasses included) or an ``HTTPException`` status code.  A status
is looked up first, then the exception's classes from the closest up.  What no
handler takes becomes the default page, ``{"detail": ...}`` as JSON; an
exception that is not an ``HTTPException`` is logged and answered with a
500 that says nothing about the code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

import pyre.spec

from .exceptions import HTTPException
from .responses import to_response
from .types import ExceptionHandler, ExceptionKey, maybe_await

if TYPE_CHECKING:
    from .requests import Request

logger = logging.getLogger("pyre.framework")

ErrorHandlers = dict[ExceptionKey, ExceptionHandler]


def find_handler(handlers: ErrorHandlers, exc: BaseException) -> ExceptionHandler | None:
    """The handler registered for ``exc``'s status (``HTTPException``) or its closest class."""
    if isinstance(exc, HTTPException):
        handler = handlers.get(exc.status)
        if handler is not None:
            return handler
    for klass in type(exc).__mro__:
        handler = handlers.get(klass)
        if handler is not None:
            return handler
    return None


async def call_error_handler(
    handler: ExceptionHandler, request: Request, exc: Exception
) -> pyre.spec.Response:
    """What ``handler`` makes of ``exc``, coerced like a handler's return value."""
    return to_response(await maybe_await(handler(request, exc)))


def error_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> pyre.spec.Response:
    """The default error page: ``{"detail": ...}`` as JSON."""
    raw = [(b"content-type", b"application/json")]
    if headers:
        raw.extend(
            (name.encode("latin-1").lower(), value.encode("latin-1")) for name, value in headers.items()
        )
    return pyre.spec.Response(status, raw, orjson.dumps({"detail": detail}))


def default_error_response(exc: Exception) -> pyre.spec.Response:
    """What an unhandled exception becomes; nothing about the code leaks to the client."""
    if isinstance(exc, HTTPException):
        return error_response(exc.status, exc.detail, exc.headers)
    if isinstance(exc, pyre.spec.RequestBodyTooLarge):
        return error_response(413, f"request body exceeds {exc.limit} bytes")
    if isinstance(exc, pyre.spec.ClientDisconnected):
        raise exc  # nobody is left to answer; the server closes the connection
    logger.error("unhandled exception while handling a request", exc_info=exc)
    return error_response(500, "Internal Server Error")
