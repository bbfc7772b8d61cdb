"""The response message (spec section 6).

``Response`` is a concrete class: an application builds it, the server reads
its five slots.  Frameworks subclass it to add constructors.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from ._headers import RawHeaders
from ._upgrade import ByteStream


@dataclass(frozen=True, slots=True)
class FileBody:
    """A region of a file as the response content (section 6.7).

    Exactly one of ``path`` and ``fd`` is given.  The server takes ownership
    of ``fd`` and closes it when the response is finished.
    """

    path: str | os.PathLike[str] | None = None
    fd: int | None = None
    offset: int = 0
    count: int | None = None
    """Bytes to send from ``offset``; ``None`` sends to the end of the file."""

    def __post_init__(self) -> None:
        if (self.path is None) == (self.fd is None):
            raise ValueError("FileBody takes exactly one of path and fd")
        if self.offset < 0 or (self.count is not None and self.count < 0):
            raise ValueError("FileBody offset and count must not be negative")


ResponseBody: TypeAlias = bytes | AsyncIterable[bytes] | FileBody
"""Complete content, streamed content, or a file region."""

Trailers: TypeAlias = Callable[[], Awaitable[RawHeaders]]
"""Called once, after the last content chunk, for the trailer section (section 6.6)."""

UpgradeHandler: TypeAlias = Callable[[ByteStream], Awaitable[None]]
"""Given the raw connection after a ``101 Switching Protocols`` response (section 9)."""


class Response:
    """The final response to one request (RFC 9110 section 15).

    ``headers`` names are lowercase byte strings.  The server owns message
    framing (section 6.5): it computes ``content-length`` or chooses chunked
    coding itself, and removes any ``transfer-encoding`` the app sets.
    """

    __slots__ = ("status", "headers", "body", "trailers", "upgrade")

    def __init__(
        self,
        status: int = 200,
        headers: RawHeaders = (),
        body: ResponseBody = b"",
        *,
        trailers: Trailers | None = None,
        upgrade: UpgradeHandler | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.upgrade = upgrade

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"
