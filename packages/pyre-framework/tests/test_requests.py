from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import pyre.spec
from pyre.framework.exceptions import HTTPException
from pyre.framework.requests import Request
from pyre.spec.testing import MemoryRequest


def make(method: str = "GET", target: str = "/", **options: Any) -> Request:
    return Request(MemoryRequest(method, target, **options))


def test_attributes_come_from_the_spec_request() -> None:
    state = {"db": object()}
    spec = MemoryRequest(
        "POST", "/items/3?x=1&x=2", headers=[(b"host", b"api.test"), (b"x-a", b"b")], state=state
    )
    request = Request(spec, app="the-app", path_params={"id": 3})
    assert request.method == "POST"
    assert request.path == "/items/3"
    assert request.headers is spec.headers
    assert request.headers["X-A"] == "b"
    assert request.client == ("127.0.0.1", 50000)
    assert request.state is state
    assert request.app == "the-app"
    assert request.spec is spec
    assert request.path_params == {"id": 3}
    assert request.query.getlist("x") == ["1", "2"]
    assert str(request.url) == "http://api.test/items/3?x=1&x=2"
    request.path_params = {"id": 4}
    assert request.path_params == {"id": 4}


def test_request_has_slots_and_is_lazy() -> None:
    request = make()
    assert not hasattr(request, "__dict__")
    assert request._url is None
    assert request._query is None
    assert request._body is None
    assert request.query is request.query
    assert request.url is request.url


def test_cookies_are_parsed_from_every_cookie_field() -> None:
    request = make(headers=[(b"cookie", b"a=1; b=2"), (b"cookie", b"c=3")])
    assert request.cookies == {"a": "1", "b": "2", "c": "3"}
    assert make().cookies == {}


async def test_body_bytes_text_json_are_cached() -> None:
    request = make("POST", "/", body=b'{"age": 30}')
    assert await request.body.json() == {"age": 30}
    assert await request.body.bytes() == b'{"age": 30}'
    assert await request.body.text() == '{"age": 30}'
    assert await request.body.json() is await request.body.json()
    assert [chunk async for chunk in request.body] == [b'{"age": 30}']


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_body_streams_chunks_once() -> None:
    request = make("POST", "/", body=_chunks(b"ab", b"cd"))
    assert request.body.length is None
    assert [chunk async for chunk in request.body] == [b"ab", b"cd"]
    with pytest.raises(RuntimeError, match="already streamed"):
        await request.body.bytes()


async def test_text_uses_the_declared_charset() -> None:
    request = make(
        "POST", "/", body="é".encode("latin-1"), headers=[(b"content-type", b"text/plain; charset=latin-1")]
    )
    assert await request.body.text() == "é"


async def test_undecodable_text_is_400() -> None:
    request = make("POST", "/", body=b"\xff")
    with pytest.raises(HTTPException) as caught:
        await request.body.text()
    assert caught.value.status == 400


async def test_invalid_json_is_400() -> None:
    request = make("POST", "/", body=b"{nope")
    with pytest.raises(HTTPException) as caught:
        await request.body.json()
    assert caught.value.status == 400


async def test_null_json_is_cached_too() -> None:
    request = make("POST", "/", body=b"null")
    assert await request.body.json() is None
    assert await request.body.json() is None


async def test_body_over_max_size_is_413() -> None:
    request = make("POST", "/", body=b"x" * 11)
    with pytest.raises(HTTPException) as caught:
        await request.body.bytes(max_size=10)
    assert caught.value.status == 413
    assert isinstance(caught.value.__cause__, pyre.spec.RequestBodyTooLarge)


async def test_cached_body_still_honours_max_size() -> None:
    request = make("POST", "/", body=b"x" * 11)
    await request.body.bytes()
    with pytest.raises(HTTPException) as caught:
        await request.body.bytes(max_size=10)
    assert caught.value.status == 413


async def test_form_on_other_content_type_is_415() -> None:
    request = make("POST", "/", body=b"{}", headers=[(b"content-type", b"application/json")])
    with pytest.raises(HTTPException) as caught:
        await request.body.form()
    assert caught.value.status == 415


async def test_disconnect_propagates_as_spec_error() -> None:
    spec = MemoryRequest("POST", "/", body=b"data")
    spec.disconnect()
    with pytest.raises(pyre.spec.ClientDisconnected):
        await Request(spec).body.bytes()


def test_repr_names_method_and_target() -> None:
    assert repr(make("PUT", "/x?y=1")) == "<Request PUT /x?y=1>"


@pytest.mark.parametrize(
    ("target", "path", "url"),
    [
        (b"/caf%C3%A9/a%2Fb", "/café/a/b", "http://127.0.0.1:8000/caf%C3%A9/a%2Fb"),
        # UTF-8 sent unescaped: the URL escapes it, and its path reads it as UTF-8 (it read latin-1).
        (b"/caf\xc3\xa9", "/café", "http://127.0.0.1:8000/caf%C3%A9"),
        (b"/bad\xff", "/bad\ufffd", "http://127.0.0.1:8000/bad%FF"),
    ],
)
def test_the_url_path_is_the_request_path(target: bytes, path: str, url: str) -> None:
    request = Request(MemoryRequest("GET", target))
    assert request.url.path == path == request.path
    assert str(request.url) == url


def test_a_query_sent_with_raw_utf8_reads_as_utf8() -> None:
    request = Request(MemoryRequest("GET", b"/x?q=caf\xc3\xa9&r=caf%C3%A9"))
    assert dict(request.query) == {"q": "café", "r": "café"}
    assert request.url.query == "q=caf%C3%A9&r=caf%C3%A9"
