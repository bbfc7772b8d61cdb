"""``FileBody`` content, read in a thread so that a slow disk never blocks the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Final

from pyre.spec import FileBody

from ._response import InvalidResponse

FILE_CHUNK: Final = 256 * 1024


async def file_chunks(loop: asyncio.AbstractEventLoop, body: FileBody) -> tuple[AsyncIterator[bytes], int]:
    fd = await loop.run_in_executor(None, _open_for_reading, body.path) if body.fd is None else body.fd
    try:
        size = os.fstat(fd).st_size
        count = size - body.offset if body.count is None else body.count
        if count < 0 or body.offset + count > size:
            raise InvalidResponse("FileBody region lies beyond the end of the file")
    except BaseException:
        os.close(fd)
        raise
    return _read_file(loop, fd, body.offset, count), count


def _open_for_reading(path: str | os.PathLike[str] | None) -> int:
    assert path is not None
    return os.open(path, os.O_RDONLY)


async def _read_file(
    loop: asyncio.AbstractEventLoop, fd: int, offset: int, count: int
) -> AsyncIterator[bytes]:
    try:
        while count > 0:
            data = await loop.run_in_executor(None, os.pread, fd, min(count, FILE_CHUNK), offset)
            if not data:
                raise InvalidResponse("file ended before the FileBody region")
            offset += len(data)
            count -= len(data)
            yield data
    finally:
        os.close(fd)
