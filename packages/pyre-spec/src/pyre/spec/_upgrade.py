"""Protocol upgrade (spec section 9)."""

from __future__ import annotations

from typing import Protocol


class ByteStream(Protocol):
    """The connection's raw bytes after ``101 Switching Protocols``.

    ``read`` returns ``b""`` once the client has closed its side (PYRE-UPG-5);
    ``write`` after the connection is gone raises ``ClientDisconnected`` (PYRE-UPG-6).
    """

    async def read(self, max_bytes: int = 65536) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...
