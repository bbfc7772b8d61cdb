"""Exceptions of pyre-spec (spec section 8).

The tree::

    SpecError
    ├── ClientDisconnected     the client went away while the app was reading or writing
    ├── RequestBodyTooLarge    the request body passed a size limit
    └── FileTooShort           a FileBody's file ends before its region does

The first two are raised by server code inside application code, so they belong
to the interface rather than to any one server: an app catches
``pyre.spec.ClientDisconnected`` whichever server runs it.  ``FileTooShort`` is
raised by ``open_file_body`` and its reader to whoever sends a ``FileBody``: to a
server it is the application's error (PYRE-RESP-18).
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


class FileTooShort(SpecError):
    """A ``FileBody``'s region reaches past the end of its file (PYRE-RESP-18).

    Raised when the file is opened, for an ``offset`` or ``offset + count`` past the
    end, and while it is read, for a file that shrank meanwhile.  A server answers
    ``500`` for the first if nothing was sent yet, and aborts the connection for the
    second ([PYRE-ERR-2]).
    """
