"""``FileBody`` content, read in a thread so that a slow disk never blocks the event loop."""

from __future__ import annotations

import asyncio
import os
from typing import Final

from pyre.spec import FileBody

from ._response import InvalidResponse

FILE_CHUNK: Final = 256 * 1024


async def file_chunks(loop: asyncio.AbstractEventLoop, body: FileBody) -> tuple[FileChunks, int]:
    fd = await loop.run_in_executor(None, _open_for_reading, body.path) if body.fd is None else body.fd
    try:
        size = os.fstat(fd).st_size
        count = size - body.offset if body.count is None else body.count
        if count < 0 or body.offset + count > size:
            raise InvalidResponse("FileBody region lies beyond the end of the file")
    except BaseException:
        os.close(fd)
        raise
    return FileChunks(loop, fd, body.offset, count), count


def _open_for_reading(path: str | os.PathLike[str] | None) -> int:
    assert path is not None
    return os.open(path, os.O_RDONLY)


class FileChunks:
    """The region's content; owns the descriptor, closed at the end or by ``aclose()``.

    Not an async generator: one that never started ignores ``aclose()``, and the
    descriptor of a response that sends no content (HEAD, 304) would be left open.
    """

    __slots__ = ("_loop", "_fd", "_offset", "_count")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, offset: int, count: int) -> None:
        self._loop = loop
        self._fd = fd
        self._offset = offset
        self._count = count

    def __aiter__(self) -> FileChunks:
        return self

    async def __anext__(self) -> bytes:
        if self._count <= 0 or self._fd < 0:
            await self.aclose()
            raise StopAsyncIteration
        data = await self._loop.run_in_executor(
            None, os.pread, self._fd, min(self._count, FILE_CHUNK), self._offset
        )
        if not data:
            await self.aclose()
            raise InvalidResponse("file ended before the FileBody region")
        self._offset += len(data)
        self._count -= len(data)
        return data

    async def aclose(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
