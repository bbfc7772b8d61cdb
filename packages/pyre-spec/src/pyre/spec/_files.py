"""Reading the content of a ``FileBody`` (spec section 6.7).

Every party that turns a ``FileBody`` into bytes (a server without sendfile, a
bridge, the in-memory driver, a framework) needs the same three things: the
region checked against the file's size before anything is sent, the reads kept
off the event loop so a slow disk stalls no other request, and the descriptor
closed exactly once whatever happens (PYRE-RESP-19).  ``open_file_body`` does
all three, and a file that turns out shorter than its region is always
``FileTooShort``, never content silently cut short.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from ._errors import FileTooShort
from ._response import FileBody

if TYPE_CHECKING:
    import asyncio

CHUNK_SIZE: Final = 256 * 1024
"""The most bytes one read takes: large enough for few thread hops, small enough to bound memory."""


async def open_file_body(body: FileBody) -> FileBodyReader:
    """A reader of ``body``'s region; it owns the descriptor from now on.

    Opens ``body.path`` in a worker thread, or takes ``body.fd``.  The region is
    ``count`` bytes from ``offset``, or, when ``count`` is ``None``, up to the end
    of the file as ``fstat`` sees it now (PYRE-RESP-18).  Raises ``FileTooShort``
    when the region reaches past the end of the file, and ``OSError`` when the
    file cannot be opened; in both cases the descriptor is already closed.
    """
    import asyncio  # here, not at the top: importing pyre.spec starts no event-loop machinery

    loop = asyncio.get_running_loop()
    if body.fd is None:
        assert body.path is not None  # FileBody takes exactly one of them
        opening = loop.run_in_executor(None, os.open, body.path, os.O_RDONLY)
        try:
            # Shielded: cancelled while the thread still opens the file, the descriptor it
            # then gets is closed rather than lost.
            fd = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
    else:
        fd = body.fd
    try:
        size = os.fstat(fd).st_size
        offset = body.offset
        length = size - offset if body.count is None else body.count
        if length < 0 or offset + length > size:
            raise FileTooShort(f"FileBody region lies beyond the end of the file ({size} bytes)")
    except BaseException:
        os.close(fd)
        raise
    return FileBodyReader(loop, fd, offset, length)


def _close_opened(opening: asyncio.Future[int]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result())


class FileBodyReader:
    """The content of a file region as an async iterator of non-empty chunks of ``CHUNK_SIZE`` or less.

    ``length`` is the region's size in bytes.  The descriptor is closed when the
    region has been read, when a read fails, and by ``aclose()``, which may be
    called at any time, also before the first chunk: a response sent without
    content (``HEAD``, ``304``) closes its file that way.  This is not an async
    generator because one that never started ignores ``aclose()`` and would leave
    the descriptor open.

    A file that has shrunk since it was opened raises ``FileTooShort`` from the
    read that finds its end.
    """

    __slots__ = ("length", "_loop", "_fd", "_offset", "_left")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, offset: int, length: int) -> None:
        self.length = length
        self._loop = loop
        self._fd = fd
        self._offset = offset
        self._left = length

    def __aiter__(self) -> FileBodyReader:
        return self

    async def __anext__(self) -> bytes:
        fd = self._fd
        if self._left <= 0 or fd < 0:
            await self.aclose()
            raise StopAsyncIteration
        try:
            data = await self._loop.run_in_executor(
                None, os.pread, fd, min(self._left, CHUNK_SIZE), self._offset
            )
            if not data:
                raise FileTooShort(f"the file ended {self._left} bytes before the end of its FileBody region")
        except BaseException:
            await self.aclose()
            raise
        self._offset += len(data)
        self._left -= len(data)
        return data

    async def aclose(self) -> None:
        """Close the descriptor, if it is still open."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
