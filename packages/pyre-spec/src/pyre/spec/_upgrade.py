"""Protocol upgrade (spec section 7)."""

from __future__ import annotations

from typing import Protocol


class ByteStream(Protocol):
    """The connection's raw bytes after ``101 Switching Protocols``.

    ``read`` returns ``b""`` once the client has closed its side.  ``write``
    and ``read`` after the connection is gone raise ``ClientDisconnected``.
    """

    async def read(self, max_bytes: int = 65536) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...
