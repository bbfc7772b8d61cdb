"""read_to_end: the Body.read every server shares (spec sections 5.2 and 5.4)."""

from collections.abc import AsyncIterator

import pytest

from pyre.spec import RequestBodyTooLarge, read_to_end


async def _content(parts: list[bytes], server_limit: int | None = None) -> AsyncIterator[bytes]:
    """Chunks as a server's body gives them, raising for its own limit as the bytes arrive."""
    received = 0
    for part in parts:
        received += len(part)
        if server_limit is not None and received > server_limit:
            raise RequestBodyTooLarge(server_limit)
        yield part


async def test_joins_the_chunks() -> None:
    assert await read_to_end(_content([b"ab", b"", b"cd"])) == b"abcd"
    assert await read_to_end(_content([b"ab", b"cd"]), 4) == b"abcd"


async def test_max_size_passed() -> None:
    with pytest.raises(RequestBodyTooLarge) as raised:
        await read_to_end(_content([b"ab", b"cd"]), 3)
    assert raised.value.limit == 3


@pytest.mark.parametrize(
    ("max_size", "server_limit", "reported"),
    [
        (10, 100, 10),  # one chunk passes both at once: the server's check comes first, max_size is smaller
        (150, 100, 100),  # only the server's limit is passed
        (None, 100, 100),
    ],
)
async def test_the_smaller_limit_passed_is_reported(
    max_size: int | None, server_limit: int, reported: int
) -> None:
    # PYRE-BODY-18
    with pytest.raises(RequestBodyTooLarge) as raised:
        await read_to_end(_content([b"x" * 120], server_limit), max_size)
    assert raised.value.limit == reported
