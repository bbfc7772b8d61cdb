from __future__ import annotations

import asyncio
import email.utils
import itertools
import os
import pathlib
import re
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyre.spec
from pyre.framework.exceptions import HTTPException
from pyre.framework.requests import Request
from pyre.framework.responses import FileResponse, JSONResponse, RequestAwareResponse, to_response
from pyre.framework.responses.files import parse_range
from pyre.spec.testing import Driver, DriverResponse, MemoryRequest

CONTENT = bytes(range(256)) * 4  # 1024 bytes
MTIME = 1_700_000_000


def spec_app(handler: Callable[[Request], Awaitable[Any]]) -> pyre.spec.Application:
    async def app(spec_request: pyre.spec.Request) -> pyre.spec.Response:
        request = Request(spec_request)
        try:
            response = to_response(await handler(request))
            if isinstance(response, RequestAwareResponse):
                await response.prepare(request)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status=exc.status)
        return response

    return app


@pytest.fixture
def data_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    os.utime(path, (MTIME, MTIME))
    return path


async def get(
    path: pathlib.Path, *headers: tuple[str, str], method: str = "GET", **options: Any
) -> DriverResponse:
    async def handler(request: Request) -> FileResponse:
        return FileResponse(path, **options)

    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    async with Driver(spec_app(handler)) as driver:
        return await driver.request(method, "/file", headers=raw)


async def validators(path: pathlib.Path) -> tuple[str, str]:
    response = await get(path)
    return response.headers["etag"], response.headers["last-modified"]


async def test_full_file_with_validators(data_file: pathlib.Path) -> None:
    response = await get(data_file)
    assert response.status == 200
    assert response.body == CONTENT
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["last-modified"] == email.utils.formatdate(MTIME, usegmt=True)
    assert re.fullmatch(r'"[0-9a-f]+-400"', response.headers["etag"])
    body = response.response.body if response.response else None
    assert body == pyre.spec.FileBody(path=data_file, count=len(CONTENT))


async def test_media_type_is_guessed_and_charset_added(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<p>hi</p>")
    response = await get(page)
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_filename_makes_an_attachment(data_file: pathlib.Path) -> None:
    response = await get(data_file, filename="report.pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    inline = await get(data_file, filename="résumé 1.txt", content_disposition_type="inline")
    assert inline.headers["content-disposition"] == (
        "inline; filename=\"r?sum? 1.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"
    )


async def test_unprepared_file_response_still_sends_the_file(data_file: pathlib.Path) -> None:
    async with Driver(lambda request: _immediately(FileResponse(data_file))) as driver:
        response = await driver.request("GET", "/")
    assert (response.status, response.body) == (200, CONTENT)


async def _immediately(response: pyre.spec.Response) -> pyre.spec.Response:
    return response


async def test_prepare_twice_changes_nothing(data_file: pathlib.Path) -> None:
    response = FileResponse(data_file)
    request = Request(MemoryRequest("GET", "/", headers=[(b"range", b"bytes=0-0")]))
    await response.prepare(request)
    headers = list(response.headers)
    await response.prepare(request)
    assert (response.status, response.headers) == (206, headers)


async def test_missing_file_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        await FileResponse(tmp_path / "nope").prepare(Request(MemoryRequest("GET", "/")))
    with pytest.raises(IsADirectoryError):
        await FileResponse(tmp_path).prepare(Request(MemoryRequest("GET", "/")))


# -- conditional requests (RFC 9110 section 13) ---------------------------------------------------


async def test_if_none_match_gives_304(data_file: pathlib.Path) -> None:
    etag, modified = await validators(data_file)
    for value in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = await get(data_file, ("If-None-Match", value))
        assert (response.status, response.body) == (304, b""), value
        assert response.headers["etag"] == etag
        assert response.headers["last-modified"] == modified
        assert "content-type" not in response.headers
    assert (await get(data_file, ("If-None-Match", '"other"'))).status == 200


async def test_if_none_match_on_unsafe_method_is_412(data_file: pathlib.Path) -> None:
    etag, _ = await validators(data_file)
    assert (await get(data_file, ("If-None-Match", etag), method="POST")).status == 412


async def test_if_modified_since(data_file: pathlib.Path) -> None:
    _, modified = await validators(data_file)
    assert (await get(data_file, ("If-Modified-Since", modified))).status == 304
    later = email.utils.formatdate(MTIME + 10, usegmt=True)
    assert (await get(data_file, ("If-Modified-Since", later))).status == 304
    earlier = email.utils.formatdate(MTIME - 10, usegmt=True)
    assert (await get(data_file, ("If-Modified-Since", earlier))).status == 200
    assert (await get(data_file, ("If-Modified-Since", "not a date"))).status == 200


async def test_if_none_match_takes_precedence_over_if_modified_since(data_file: pathlib.Path) -> None:
    _, modified = await validators(data_file)
    response = await get(data_file, ("If-None-Match", '"other"'), ("If-Modified-Since", modified))
    assert response.status == 200


async def test_if_match(data_file: pathlib.Path) -> None:
    etag, _ = await validators(data_file)
    assert (await get(data_file, ("If-Match", etag))).status == 200
    assert (await get(data_file, ("If-Match", "*"))).status == 200
    assert (await get(data_file, ("If-Match", '"stale"'))).status == 412
    # If-Match uses the strong comparison: a weak tag never matches.
    assert (await get(data_file, ("If-Match", f"W/{etag}"))).status == 412
    assert (await get(data_file, ("If-Match", "garbage"))).status == 412


async def test_if_unmodified_since(data_file: pathlib.Path) -> None:
    _, modified = await validators(data_file)
    assert (await get(data_file, ("If-Unmodified-Since", modified))).status == 200
    earlier = email.utils.formatdate(MTIME - 10, usegmt=True)
    failed = await get(data_file, ("If-Unmodified-Since", earlier))
    assert (failed.status, failed.body) == (412, b"")


async def test_etag_changes_with_the_file(data_file: pathlib.Path) -> None:
    etag, _ = await validators(data_file)
    await asyncio.to_thread(data_file.write_bytes, CONTENT + b"!")
    assert (await get(data_file, ("If-None-Match", etag))).status == 200


async def test_non_200_file_responses_skip_conditionals(data_file: pathlib.Path) -> None:
    etag, _ = await validators(data_file)
    response = await get(data_file, ("If-None-Match", etag), ("Range", "bytes=0-1"), status=404)
    assert (response.status, response.body) == (404, CONTENT)


# -- ranges (RFC 9110 section 14) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=-5000", 0, 1023),
        ("bytes=1020-99999", 1020, 1023),
        ("BYTES = 5-5", 5, 5),
        ("bytes=0-10, 5-20", 0, 20),
        ("bytes=0-9,10-19", 0, 19),
        ("bytes=100-199, 5000-6000", 100, 199),
    ],
)
async def test_single_range(data_file: pathlib.Path, spec: str, first: int, last: int) -> None:
    response = await get(data_file, ("Range", spec))
    assert response.status == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/1024"
    assert response.body == CONTENT[first : last + 1]


async def test_multiple_ranges_are_multipart_byteranges(data_file: pathlib.Path) -> None:
    response = await get(data_file, ("Range", "bytes=500-509, 0-4, -3"))
    assert response.status == 206
    content_type = response.headers["content-type"]
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9a-f]+)", content_type)
    assert match is not None
    boundary = match.group(1)
    assert int(response.headers["content-length"]) == len(response.body)
    assert "content-range" not in response.headers
    expected = (
        b"".join(
            b"%s--%s\r\ncontent-type: application/octet-stream\r\ncontent-range: bytes %d-%d/1024\r\n\r\n%s"
            % (b"\r\n" if index else b"", boundary.encode(), first, last, CONTENT[first : last + 1])
            for index, (first, last) in enumerate([(0, 4), (500, 509), (1021, 1023)])
        )
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert response.body == expected


async def test_a_file_that_shrinks_under_multiple_ranges_is_file_too_short(data_file: pathlib.Path) -> None:
    response = FileResponse(data_file)
    await response.prepare(Request(MemoryRequest("GET", "/", headers=[(b"range", b"bytes=0-9,900-999")])))
    assert response.status == 206
    await asyncio.to_thread(os.truncate, data_file, 950)
    body = response.body
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    received: list[bytes] = []
    with pytest.raises(pyre.spec.FileTooShort):
        await _drain(body, received)
    assert CONTENT[:10] in b"".join(received)
    assert CONTENT[900:950] not in b"".join(received)  # the second range is never sent cut short


async def _drain(body: AsyncIterable[bytes], received: list[bytes]) -> None:
    async for chunk in body:
        received.append(chunk)


async def test_many_ranges_read_across_chunks(tmp_path: pathlib.Path) -> None:
    big = tmp_path / "big.bin"
    content = os.urandom(200_000)
    big.write_bytes(content)
    response = await get(big, ("Range", "bytes=0-0,100000-199999"))
    assert content[100_000:] in response.body
    assert response.body.count(content[:1] + b"\r\n") >= 1


@pytest.mark.parametrize("spec", ["bytes=1024-", "bytes=5000-6000", "bytes=-0", "bytes=2000-2100, 3000-"])
async def test_unsatisfiable_range_is_416(data_file: pathlib.Path, spec: str) -> None:
    response = await get(data_file, ("Range", spec))
    assert (response.status, response.body) == (416, b"")
    assert response.headers["content-range"] == "bytes */1024"


@pytest.mark.parametrize(
    "spec",
    [
        "items=0-5",
        "bytes=5-1",
        "bytes=abc",
        "bytes=",
        "bytes=1",
        "bytes=--5",
        "bytes=0-" + "9" * 5000,
        "bytes=" + ",".join(["0-0"] * 101),
    ],
)
async def test_ignored_range_gives_the_whole_file(data_file: pathlib.Path, spec: str) -> None:
    response = await get(data_file, ("Range", spec))
    if spec.startswith("bytes=0-9"):
        # A huge last-pos is just clamped to the end of the file.
        assert (response.status, response.body) == (206, CONTENT)
    else:
        assert (response.status, response.body) == (200, CONTENT)


async def test_range_ignored_for_head(data_file: pathlib.Path) -> None:
    response = await get(data_file, ("Range", "bytes=0-9"), method="HEAD")
    assert response.status == 200


async def test_range_on_empty_file_is_416(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert (await get(empty, ("Range", "bytes=0-"))).status == 416
    assert (await get(empty, ("Range", "bytes=-10"))).status == 416


async def test_if_range(data_file: pathlib.Path) -> None:
    etag, modified = await validators(data_file)
    assert (await get(data_file, ("Range", "bytes=0-9"), ("If-Range", etag))).status == 206
    assert (await get(data_file, ("Range", "bytes=0-9"), ("If-Range", modified))).status == 206
    stale = await get(data_file, ("Range", "bytes=0-9"), ("If-Range", '"stale"'))
    assert (stale.status, stale.body) == (200, CONTENT)
    weak = await get(data_file, ("Range", "bytes=0-9"), ("If-Range", f"W/{etag}"))
    assert weak.status == 200
    earlier = email.utils.formatdate(MTIME - 1, usegmt=True)
    assert (await get(data_file, ("Range", "bytes=0-9"), ("If-Range", earlier))).status == 200


async def test_precondition_failure_beats_range(data_file: pathlib.Path) -> None:
    assert (await get(data_file, ("Range", "bytes=0-9"), ("If-Match", '"stale"'))).status == 412


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2000),
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 3000)), st.one_of(st.none(), st.integers(0, 3000))),
        min_size=1,
        max_size=8,
    ),
)
def test_parsed_ranges_are_in_bounds_sorted_and_disjoint(
    size: int, specs: list[tuple[int | None, int | None]]
) -> None:
    text = "bytes=" + ",".join(f"{'' if a is None else a}-{'' if b is None else b}" for a, b in specs)
    ranges = parse_range(text, size)
    if ranges is None:
        # Only syntax errors are ignored: "-" alone, or last < first.
        assert any((a is None and b is None) or (a is not None and b is not None and b < a) for a, b in specs)
        return
    for first, last in ranges:
        assert 0 <= first <= last < size
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert last + 1 < first
    covered = {position for first, last in ranges for position in range(first, last + 1)}
    wanted: set[int] = set()
    for a, b in specs:
        if a is None and b is not None:
            wanted.update(range(max(0, size - b), size))
        elif a is not None:
            wanted.update(range(a, size if b is None else min(b + 1, size)))
    assert covered == wanted
