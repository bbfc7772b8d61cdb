"""A request ID for every request, for logs and for the client to quote back.

The ID is in a context variable while the rest of the chain runs, so code that
has no ``Request`` at hand (a logging filter) can read ``current_request_id()``;
``request.state`` is the app's shared lifespan state, so it is not used.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

import pyre.spec

from ..requests import Request
from . import CallNext

_current: ContextVar[str | None] = ContextVar("pyre_framework_request_id", default=None)

# Visible ASCII only and bounded, so a client-chosen ID cannot forge log lines or grow them.
_ACCEPTABLE_ID = re.compile(r"[\x21-\x7e]{1,200}")


def current_request_id() -> str | None:
    """The ID of the request being handled, or ``None`` outside ``RequestIDMiddleware``."""
    return _current.get()


class RequestIDMiddleware:
    """Take the request's ID from ``header_name`` or make one (uuid4 hex), and echo it in the response.

    With ``trust_incoming=False`` a new ID is always made: for servers facing
    clients that should not choose what appears in the logs.
    """

    def __init__(self, header_name: str = "X-Request-ID", trust_incoming: bool = True) -> None:
        self._header = header_name.lower()
        self._raw_header = self._header.encode("latin-1")
        self._trust_incoming = trust_incoming

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        incoming = request.headers.get(self._header) if self._trust_incoming else None
        if incoming is not None and _ACCEPTABLE_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = uuid.uuid4().hex
        token = _current.set(request_id)
        try:
            response = await call_next(request)
        finally:
            _current.reset(token)
        name = self._raw_header
        response.headers = [
            *(field for field in response.headers if field[0] != name),
            (name, request_id.encode()),
        ]
        return response


__all__ = [
    "RequestIDMiddleware",
    "current_request_id",
]
