"""``limit_header_field_size``: one header field (name and value) larger than it is 431.

It is what gunicorn's ``limit_request_field_size`` becomes under the gunicorn worker; the whole
section stays bounded by ``limit_header_size``.
"""

from __future__ import annotations

import pytest
from server_support import exchange, serve, status_of

from pyre.server import Config
from pyre.server._cli import parse


def request(*fields: bytes) -> bytes:
    return (
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"".join(field + b"\r\n" for field in fields)
        + b"\r\n"
    )


async def test_a_field_over_the_limit_is_431() -> None:
    async with serve(limit_header_field_size=100) as server:
        assert status_of(await exchange(server, request(b"x-big: " + b"v" * 95))) == 200  # 5 + 95
        raw = await exchange(server, request(b"x-big: " + b"v" * 96))
        assert status_of(raw) == 431
        assert b"connection: close" in raw


async def test_many_fields_under_the_limit_pass_however_large_the_section() -> None:
    fields = [b"x-field-%d: " % number + b"v" * 80 for number in range(20)]  # 1.8 KB, none over 100
    async with serve(limit_header_field_size=100) as server:
        assert status_of(await exchange(server, request(*fields))) == 200


async def test_the_section_limit_still_holds() -> None:
    fields = [b"x-field-%d: " % number + b"v" * 80 for number in range(5)]
    async with serve(limit_header_field_size=100, limit_header_size=300) as server:
        assert status_of(await exchange(server, request(*fields))) == 431


async def test_no_field_limit_by_default() -> None:
    async with serve() as server:
        assert status_of(await exchange(server, request(b"x-big: " + b"v" * 20000))) == 200


def test_flag_variable_and_validation() -> None:
    assert parse(["app:app", "--limit-header-field-size", "512"], {})[1].limit_header_field_size == 512
    assert parse(["app:app"], {"PYRE_LIMIT_HEADER_FIELD_SIZE": "64"})[1].limit_header_field_size == 64
    with pytest.raises(ValueError, match="limit_header_field_size"):
        Config(limit_header_field_size=0)
