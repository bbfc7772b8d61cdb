from __future__ import annotations

import pytest

from pyre.framework.datastructures import (
    URL,
    FormData,
    QueryParams,
    UploadFile,
    parse_cookie_header,
    request_url,
    split_authority,
)
from pyre.spec.testing import MemoryRequest


def test_url_str_keeps_raw_path_and_drops_default_port() -> None:
    url = URL("https", "example.com", 443, "/a%20b", "x=1")
    assert str(url) == "https://example.com/a%20b?x=1"
    assert url.path == "/a b"
    assert url.netloc == "example.com"
    assert URL("http", "example.com", 8080, "/").netloc == "example.com:8080"


def test_url_brackets_ipv6_hosts() -> None:
    assert str(URL("http", "::1", 8000, "/x")) == "http://[::1]:8000/x"


def test_url_equality_with_str() -> None:
    assert URL("http", "h", None, "/p") == "http://h/p"
    assert URL("http", "h", None, "/p") != URL("http", "h", None, "/q")


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("Example.COM", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", None)),
        ("host:notaport", ("host", None)),
    ],
)
def test_split_authority(authority: str, expected: tuple[str, int | None]) -> None:
    assert split_authority(authority) == expected


def test_request_url_from_host_header_and_root_path() -> None:
    request = MemoryRequest("GET", "/a%2Fb?q=1", headers=[(b"host", b"example.org:81")], root_path="/app")
    assert str(request_url(request)) == "http://example.org:81/app/a%2Fb?q=1"


def test_request_url_falls_back_to_server_address() -> None:
    request = MemoryRequest("GET", "/", server=("10.0.0.1", 8000))
    url = request_url(request)
    assert (url.host, url.port) == ("10.0.0.1", 8000)


def test_query_params_multi_values_first_wins() -> None:
    query = QueryParams.parse(b"a=1&b=x+y&a=2&empty=&c=%C3%A9")
    assert query["a"] == "1"
    assert query.getlist("a") == ["1", "2"]
    assert query.get("b") == "x y"
    assert query["empty"] == ""
    assert query["c"] == "é"
    assert "missing" not in query
    assert query.get("missing", "d") == "d"
    assert list(query) == ["a", "b", "empty", "c"]
    assert len(query) == 4
    assert query.multi_items()[:3] == [("a", "1"), ("b", "x y"), ("a", "2")]
    assert str(QueryParams([("a", "1 2"), ("b", "é")])) == "a=1+2&b=%C3%A9"


def test_query_params_equality() -> None:
    assert QueryParams.parse("a=1&a=2") == QueryParams([("a", "1"), ("a", "2")])
    assert QueryParams.parse("a=1&a=2") != QueryParams.parse("a=2&a=1")


async def test_upload_file_spools_to_disk_and_reads_back() -> None:
    upload = UploadFile("big.bin", content_type="application/x-test")
    chunk = b"x" * (UploadFile.spool_size // 2 + 1)
    await upload.write(chunk)
    await upload.write(chunk)
    assert upload.size == 2 * len(chunk)
    await upload.seek(0)
    assert await upload.read() == chunk * 2
    form = FormData([("f", upload), ("t", "v")])
    await form.close()
    assert upload.file.closed


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ('quoted="v w"', {"quoted": "v w"}),
        ("noequals; a=1", {"a": "1"}),
        ("a=1; a=2", {"a": "1"}),
        ("  spaced  =  value  ", {"spaced": "value"}),
        ("", {}),
        ("=orphan", {}),
        ("token=a=b=c", {"token": "a=b=c"}),
    ],
)
def test_parse_cookie_header(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected
