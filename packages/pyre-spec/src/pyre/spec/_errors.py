"""Exceptions a server raises *into* an application (spec section 8).

The tree::

    SpecError
    ├── ClientDisconnected     the client went away while the app was reading or writing
    └── RequestBodyTooLarge    the request body passed a size limit

Both are raised by server code inside application code, so they belong to the
interface rather than to any one server: an app catches ``pyre.spec.ClientDisconnected``
whichever server runs it.
"""

from __future__ import annotations


class SpecError(Exception):
    """Root of every exception defined by pyre-spec."""


class ClientDisconnected(SpecError):
    """The connection closed before the application finished with it (PYRE-ERR-3)."""


class RequestBodyTooLarge(SpecError):
    """The request body is larger than the server's or the caller's limit (PYRE-BODY-6).

    Left to propagate out of the application before the response has started,
    it makes the server answer ``413 Content Too Large`` (PYRE-BODY-7).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit
