import asyncio
import os
import pathlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from pyre.spec import FileBody, FileBodyReader, FileTooShort, SpecError, open_file_body
from pyre.spec._files import CHUNK_SIZE

CONTENT = bytes(range(256)) * 4096  # 1 MiB, four chunks


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    file = tmp_path / "content.bin"
    file.write_bytes(CONTENT)
    return file


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


async def read_all(reader: FileBodyReader) -> list[bytes]:
    return [chunk async for chunk in reader]


@pytest.mark.parametrize(
    ("offset", "count", "expected"),
    [
        (0, None, CONTENT),
        (10, None, CONTENT[10:]),
        (10, 20, CONTENT[10:30]),
        (CHUNK_SIZE - 1, CHUNK_SIZE + 2, CONTENT[CHUNK_SIZE - 1 : 2 * CHUNK_SIZE + 1]),
        (len(CONTENT), None, b""),
        (5, 0, b""),
        (0, len(CONTENT), CONTENT),
    ],
)
async def test_the_region_is_read_in_bounded_chunks(
    path: pathlib.Path, offset: int, count: int | None, expected: bytes
) -> None:
    reader = await open_file_body(FileBody(path=path, offset=offset, count=count))
    assert reader.length == len(expected)
    chunks = await read_all(reader)
    assert b"".join(chunks) == expected
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)


async def test_a_descriptor_is_closed_once_the_region_is_read(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    reader = await open_file_body(FileBody(fd=fd, offset=3, count=4))
    assert is_open(fd)
    assert await read_all(reader) == [CONTENT[3:7]]
    assert not is_open(fd)
    await reader.aclose()  # again: nothing left to close


@pytest.mark.parametrize("count", [None, 0])
async def test_aclose_before_the_first_chunk_closes_the_descriptor(
    path: pathlib.Path, count: int | None
) -> None:
    # A HEAD or 304 response sends no content and only closes the reader.
    fd = os.open(path, os.O_RDONLY)
    reader = await open_file_body(FileBody(fd=fd, count=count))
    await reader.aclose()
    assert not is_open(fd)
    assert await read_all(reader) == []


@pytest.mark.parametrize(
    ("offset", "count"),
    [(len(CONTENT) + 1, None), (len(CONTENT) - 5, 6), (0, len(CONTENT) + 1), (len(CONTENT) + 10, 0)],
)
async def test_a_region_beyond_the_end_is_refused_and_its_descriptor_closed(
    path: pathlib.Path, offset: int, count: int | None
) -> None:
    fd = os.open(path, os.O_RDONLY)
    with pytest.raises(FileTooShort, match="beyond the end of the file"):
        await open_file_body(FileBody(fd=fd, offset=offset, count=count))
    assert not is_open(fd)
    with pytest.raises(FileTooShort):
        await open_file_body(FileBody(path=path, offset=offset, count=count))


async def test_a_file_that_shrank_is_an_error_not_a_short_body(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    reader = await open_file_body(FileBody(fd=fd))
    first = await anext(reader)
    os.truncate(path, len(first) + 10)
    assert await anext(reader) == CONTENT[len(first) : len(first) + 10]
    with pytest.raises(FileTooShort, match="ended"):
        await anext(reader)
    assert not is_open(fd)


async def test_a_file_that_cannot_be_opened_raises_oserror(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        await open_file_body(FileBody(path=tmp_path / "missing"))


async def test_a_failed_read_closes_the_descriptor(tmp_path: pathlib.Path) -> None:
    # A directory opens and has a size, but reading it fails (EISDIR).
    fd = os.open(tmp_path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if size == 0:
        os.close(fd)
        pytest.skip("this file system gives directories no size")
    reader = await open_file_body(FileBody(fd=fd, count=1))
    with pytest.raises(IsADirectoryError):
        await anext(reader)
    assert not is_open(fd)


def descriptors_of(path: pathlib.Path) -> int:
    """How many of this process's descriptors are open on ``path``."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == str(path)
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
async def test_cancelled_while_opening_leaks_no_descriptor(tmp_path: pathlib.Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: the open is still in its
    # thread when the caller is cancelled (a client that left, a timeout).
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    opening = asyncio.ensure_future(open_file_body(FileBody(path=fifo)))
    await asyncio.sleep(0.1)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    writer = os.open(fifo, os.O_WRONLY)  # lets the thread's open return
    try:
        for _ in range(100):  # the thread's descriptor is closed once its open returns
            await asyncio.sleep(0.02)
            if descriptors_of(fifo) == 1:
                break
        assert descriptors_of(fifo) == 1  # the writer's only
    finally:
        os.close(writer)


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is run in it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.calls: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(getattr(fn, "__name__", repr(fn)))
        return super().submit(fn, *args, **kwargs)


async def test_opening_and_reading_happen_off_the_event_loop(path: pathlib.Path) -> None:
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    reader = await open_file_body(FileBody(path=path, count=2 * CHUNK_SIZE))
    assert await read_all(reader) == [CONTENT[:CHUNK_SIZE], CONTENT[CHUNK_SIZE : 2 * CHUNK_SIZE]]
    assert executor.calls == ["open", "pread", "pread"]


def test_file_too_short_is_a_spec_error() -> None:
    assert issubclass(FileTooShort, SpecError)
