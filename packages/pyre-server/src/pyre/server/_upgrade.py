"""The raw connection after ``101 Switching Protocols`` (pyre-spec section 7).

The stream owns its input: the bytes the client sent after the upgrade
request, and everything after, which the transport appends to ``buffer``;
``read`` takes from it.  It writes through the connection's ``Channel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyre.spec import ClientDisconnected

if TYPE_CHECKING:
    import asyncio

    from ._channel import Channel


class UpgradeStream:
    """``pyre.spec.ByteStream`` over an upgraded HTTP/1.1 connection."""

    __slots__ = ("_channel", "_waiter", "buffer", "eof", "skip")

    def __init__(self, channel: Channel, buffer: bytearray, skip: int) -> None:
        self._channel = channel
        self._waiter: asyncio.Future[None] | None = None
        self.buffer = buffer
        self.eof = False
        self.skip = skip  # octets of the upgrade request's content still to come: not the stream's

    async def read(self, max_bytes: int = 65536) -> bytes:
        channel = self._channel
        while True:
            buffer = self.buffer
            if buffer:
                data = bytes(buffer[:max_bytes])
                del buffer[:max_bytes]
                channel.consumed()
                return data
            if self.eof:
                return b""
            if channel.closed:
                raise ClientDisconnected
            self._waiter = channel.loop.create_future()
            await self._waiter

    async def write(self, data: bytes) -> None:
        channel = self._channel
        if channel.closed:
            raise ClientDisconnected
        channel.send(data)
        await channel.drain()

    async def close(self) -> None:
        self._channel.end_upgrade()

    def received(self, data: bytes) -> None:
        """The transport's side: bytes from the client."""
        skip = self.skip
        if skip:
            self.skip = max(skip - len(data), 0)
            data = data[skip:]
            if not data:
                return
        self.buffer += data
        self.wake()

    def wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
