"""``FileBody`` content for the server: pyre-spec's reader, with its errors as the app's invalid response."""

from __future__ import annotations

import asyncio

from pyre.spec import FileBody, FileBodyReader, FileTooShort, open_file_body

from ._response import InvalidResponse


async def file_chunks(loop: asyncio.AbstractEventLoop, body: FileBody) -> tuple[FileChunks, int]:
    """The region's content and length; raises ``InvalidResponse`` for a region past the end of the file.

    ``loop`` is the running loop, which ``open_file_body`` finds itself.
    """
    try:
        reader = await open_file_body(body)
    except FileTooShort as error:
        raise InvalidResponse(str(error)) from None
    return FileChunks(reader), reader.length


class FileChunks:
    """``FileBodyReader`` whose ``FileTooShort`` (the file shrank) is an ``InvalidResponse``,
    which the server logs as such: the app gave a file it did not keep."""

    __slots__ = ("_reader",)

    def __init__(self, reader: FileBodyReader) -> None:
        self._reader = reader

    def __aiter__(self) -> FileChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._reader.__anext__()
        except FileTooShort as error:
            raise InvalidResponse(str(error)) from None

    async def aclose(self) -> None:
        await self._reader.aclose()
