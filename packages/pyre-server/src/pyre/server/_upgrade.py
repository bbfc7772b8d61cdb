"""The raw connection after ``101 Switching Protocols`` (pyre-spec section 7).

Bytes the client sent after the upgrade request, and everything after, wait
in the connection's ``held`` buffer; ``read`` takes from it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pyre.spec import ClientDisconnected

if TYPE_CHECKING:
    from ._protocol import HttpConnection


class UpgradeStream:
    """``pyre.spec.ByteStream`` over an upgraded HTTP/1.1 connection."""

    __slots__ = ("_connection", "_waiter", "eof")

    def __init__(self, connection: HttpConnection) -> None:
        self._connection = connection
        self._waiter: asyncio.Future[None] | None = None
        self.eof = False

    async def read(self, max_bytes: int = 65536) -> bytes:
        connection = self._connection
        while True:
            held = connection.held
            if held:
                data = bytes(held[:max_bytes])
                del held[:max_bytes]
                connection.body_consumed()
                return data
            if self.eof:
                return b""
            if connection.closed:
                raise ClientDisconnected
            self._waiter = connection.loop.create_future()
            await self._waiter

    async def write(self, data: bytes) -> None:
        connection = self._connection
        if connection.closed:
            raise ClientDisconnected
        connection.send_raw(data)
        await connection.drain()

    async def close(self) -> None:
        self._connection.end_upgrade()

    def wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
