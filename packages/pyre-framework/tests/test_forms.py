from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyre.framework.datastructures import FormData, UploadFile
from pyre.framework.exceptions import HTTPException
from pyre.framework.formparsers import FormLimits, parse_multipart, parse_options_header
from pyre.framework.requests import Request
from pyre.spec.testing import MemoryRequest

BOUNDARY = "----pyreBoundary7MA4YWxk"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(*parts: tuple[str, bytes], preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    """``parts`` are (header block, content); the header block has no trailing CRLF."""
    out = bytearray(preamble)
    for headers, content in parts:
        out += f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode() + epilogue
    return bytes(out)


def field(name: str, value: bytes) -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"', value


def file(name: str, filename: str, content: bytes, content_type: str = "text/plain") -> tuple[str, bytes]:
    disposition = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'
    return f"{disposition}\r\nContent-Type: {content_type}", content


async def _chunks(body: bytes, cuts: Sequence[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted(cuts):
        yield body[start:cut]
        start = cut
    yield body[start:]


def form_request(body: bytes, content_type: str = MULTIPART, cuts: Sequence[int] = ()) -> Request:
    source = _chunks(body, cuts) if cuts else body
    return Request(
        MemoryRequest("POST", "/", headers=[(b"content-type", content_type.encode())], body=source)
    )


async def read_form(body: bytes, content_type: str = MULTIPART, limits: FormLimits | None = None) -> FormData:
    request = form_request(body, content_type)
    return await request.body.form(limits) if limits else await request.body.form()


async def status_of(body: bytes, content_type: str = MULTIPART, limits: FormLimits | None = None) -> int:
    with pytest.raises(HTTPException) as caught:
        await read_form(body, content_type, limits)
    return caught.value.status


# -- urlencoded ----------------------------------------------------------------------------------


async def test_urlencoded_fields() -> None:
    form = await read_form(b"a=1&b=hello+world&a=2&e=%C3%A9&blank=", "application/x-www-form-urlencoded")
    assert form.getlist("a") == ["1", "2"]
    assert form["b"] == "hello world"
    assert form["e"] == "é"
    assert form["blank"] == ""


async def test_urlencoded_raw_utf8_as_curl_sends_it() -> None:
    form = await read_form("q=crème brûlée".encode(), "application/x-www-form-urlencoded")
    assert form["q"] == "crème brûlée"


async def test_urlencoded_with_charset_parameter() -> None:
    form = await read_form(b"a=1", "application/x-www-form-urlencoded; charset=UTF-8")
    assert form["a"] == "1"


async def test_urlencoded_too_many_fields_is_413() -> None:
    body = "&".join(f"f{i}=x" for i in range(11)).encode()
    limits = FormLimits(max_fields=10)
    assert await status_of(body, "application/x-www-form-urlencoded", limits) == 413


async def test_urlencoded_too_large_is_413() -> None:
    limits = FormLimits(max_text_size=8)
    assert await status_of(b"a=123456789", "application/x-www-form-urlencoded", limits) == 413


async def test_urlencoded_invalid_utf8_is_400() -> None:
    assert await status_of(b"a=%FF", "application/x-www-form-urlencoded") == 400


async def test_form_is_cached_after_bytes() -> None:
    request = form_request(b"a=1", "application/x-www-form-urlencoded")
    assert await request.body.bytes() == b"a=1"
    form = await request.body.form()
    assert form["a"] == "1"
    assert await request.body.form() is form


# -- multipart -----------------------------------------------------------------------------------


async def test_multipart_fields_and_files() -> None:
    body = multipart(
        field("title", "Café".encode()),
        file("upload", "notes.txt", b"line 1\r\nline 2\r\n"),
        file("upload", "empty.bin", b"", "application/octet-stream"),
        field("title", b"second"),
    )
    form = await read_form(body)
    assert form.getlist("title") == ["Café", "second"]
    uploads = form.getlist("upload")
    assert all(isinstance(upload, UploadFile) for upload in uploads)
    first, second = uploads
    assert isinstance(first, UploadFile)
    assert isinstance(second, UploadFile)
    assert (first.filename, first.content_type, first.size) == ("notes.txt", "text/plain", 16)
    assert await first.read() == b"line 1\r\nline 2\r\n"
    assert first.headers["content-type"] == "text/plain"
    assert (second.filename, second.size, await second.read()) == ("empty.bin", 0, b"")
    await form.close()


async def test_multipart_preamble_and_epilogue_are_ignored() -> None:
    body = multipart(field("a", b"1"), preamble=b"This is a preamble.\r\n", epilogue=b"trailing junk")
    assert (await read_form(body))["a"] == "1"


async def test_multipart_content_that_looks_like_a_boundary() -> None:
    tricky = f"--{BOUNDARY}-not-really\r\n--{BOUNDARY[:-1]}".encode()
    body = multipart(field("a", tricky))
    assert (await read_form(body))["a"] == tricky.decode()


async def test_multipart_utf8_filename_and_rfc8187_filename_star() -> None:
    raw = multipart(
        ('Content-Disposition: form-data; name="f"; filename="résumé.pdf"', b"%PDF"),
        ('Content-Disposition: form-data; name="g"; filename="x"; filename*=UTF-8\'\'%E2%82%AC.txt', b"e"),
        ('Content-Disposition: form-data; name="h"; filename="a \\"q\\".txt"', b"q"),
    )
    form = await read_form(raw)
    names = [value.filename for value in form.values() if isinstance(value, UploadFile)]
    assert names == ["résumé.pdf", "€.txt", 'a "q".txt']
    await form.close()


async def test_multipart_part_charset() -> None:
    raw = multipart(
        ('Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=latin-1', b"\xe9")
    )
    assert (await read_form(raw))["a"] == "é"


async def test_multipart_transport_padding_after_boundary() -> None:
    body = f'--{BOUNDARY}  \r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--{BOUNDARY}--'.encode()
    assert (await read_form(body))["a"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"no boundary anywhere", MULTIPART),
        (f"--{BOUNDARY}\r\n".encode(), MULTIPART),
        (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated'.encode(), MULTIPART),
        (f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--".encode(), MULTIPART),
        (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--".encode(), MULTIPART),
        (f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--".encode(), MULTIPART),
        (f"--{BOUNDARY}garbage\r\n\r\nx\r\n--{BOUNDARY}--".encode(), MULTIPART),
        (multipart(field("a", b"1")), "multipart/form-data"),
        (multipart(field("a", b"1")), "multipart/form-data; boundary=" + "x" * 71),
        (multipart(field("a", b"\xff")), MULTIPART),
    ],
)
async def test_malformed_multipart_is_400(body: bytes, content_type: str) -> None:
    assert await status_of(body, content_type) == 400


async def test_too_many_fields_is_413() -> None:
    body = multipart(*(field(f"f{i}", b"x") for i in range(3)))
    assert await status_of(body, limits=FormLimits(max_fields=2)) == 413


async def test_too_many_files_is_413() -> None:
    body = multipart(*(file("f", f"{i}.txt", b"x") for i in range(3)))
    assert await status_of(body, limits=FormLimits(max_files=2)) == 413


async def test_file_too_large_is_413() -> None:
    body = multipart(file("f", "big.txt", b"x" * 101))
    assert await status_of(body, limits=FormLimits(max_file_size=100)) == 413
    ok = await read_form(multipart(file("f", "fits.txt", b"x" * 100)), limits=FormLimits(max_file_size=100))
    upload = ok["f"]
    assert isinstance(upload, UploadFile)
    assert upload.size == 100


async def test_text_fields_too_large_is_413() -> None:
    body = multipart(field("a", b"x" * 6), field("b", b"y" * 6))
    assert await status_of(body, limits=FormLimits(max_text_size=10)) == 413


async def test_part_headers_too_large_is_413() -> None:
    padding = "X-Pad: " + "p" * 200
    body = multipart((f'Content-Disposition: form-data; name="a"\r\n{padding}', b"1"))
    assert await status_of(body, limits=FormLimits(max_part_header_size=128)) == 413


async def test_unterminated_part_headers_over_limit_are_413_before_the_end() -> None:
    endless = f"--{BOUNDARY}\r\nX-Pad: ".encode() + b"p" * 10_000

    async def source() -> AsyncIterator[bytes]:
        yield endless
        raise AssertionError("the parser read past the header limit")

    request = Request(
        MemoryRequest("POST", "/", headers=[(b"content-type", MULTIPART.encode())], body=source())
    )
    with pytest.raises(HTTPException) as caught:
        await request.body.form(FormLimits(max_part_header_size=1024))
    assert caught.value.status == 413


async def test_multipart_after_a_cached_read() -> None:
    body = multipart(field("a", b"1"))
    request = form_request(body)
    assert await request.body.bytes() == body
    assert (await request.body.form())["a"] == "1"


async def test_multipart_body_is_streamed_not_cached() -> None:
    request = form_request(multipart(field("a", b"1")))
    assert (await request.body.form())["a"] == "1"
    with pytest.raises(RuntimeError):
        await request.body.bytes()


async def test_failed_parse_closes_its_files() -> None:
    body = multipart(file("f", "a.txt", b"data"), file("f", "b.txt", b"x" * 50))
    parser_files: list[UploadFile] = []

    original = UploadFile.__init__

    def spy(self: UploadFile, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        parser_files.append(self)

    UploadFile.__init__ = spy  # type: ignore[method-assign]
    try:
        assert await status_of(body, limits=FormLimits(max_file_size=10)) == 413
    finally:
        UploadFile.__init__ = original  # type: ignore[method-assign]
    assert len(parser_files) == 2
    assert all(upload.file.closed for upload in parser_files)


STREAMED_BODY = multipart(
    field("name", "Zoë".encode()),
    file(
        "doc", "a.bin", bytes(range(256)) * 3 + b"\r\n--" + BOUNDARY[:10].encode(), "application/octet-stream"
    ),
    field("empty", b""),
    file("doc", "b.txt", b"\r\n\r\n"),
    preamble=b"ignored\r\n",
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAMED_BODY)), max_size=12))
async def test_multipart_parses_the_same_however_the_body_is_split(cuts: list[int]) -> None:
    request = form_request(STREAMED_BODY, cuts=cuts)
    form = await request.body.form()
    assert form["name"] == "Zoë"
    assert form["empty"] == ""
    docs = form.getlist("doc")
    contents = [await doc.read() for doc in docs if isinstance(doc, UploadFile)]
    assert contents == [bytes(range(256)) * 3 + b"\r\n--" + BOUNDARY[:10].encode(), b"\r\n\r\n"]
    await form.close()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
async def test_arbitrary_bytes_never_crash_the_parser(noise: bytes, cuts: list[int]) -> None:
    body = f"--{BOUNDARY}\r\n".encode() + noise
    status = 200
    try:
        form = await parse_multipart(MULTIPART, _chunks(body, [c for c in cuts if c <= len(body)]))
    except HTTPException as exc:
        status = exc.status
    else:
        await form.close()
    assert status in (200, 400, 413)


def test_parse_options_header() -> None:
    assert parse_options_header('Multipart/Form-Data; Boundary="a;b"; x=1') == (
        "multipart/form-data",
        {"boundary": "a;b", "x": "1"},
    )
    assert parse_options_header("") == ("", {})
    assert parse_options_header("attachment; filename*=bogus''%FF")[1] == {}
