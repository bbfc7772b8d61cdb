from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field

import pyre.spec
from pyre.framework.exceptions import HTTPException
from pyre.framework.requests import Request
from pyre.framework.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    RequestAwareResponse,
    Response,
    StreamingResponse,
    TextResponse,
    add_vary,
    to_response,
)
from pyre.spec.testing import Driver, DriverResponse

Handler = Callable[[Request], Awaitable[Any]]


def spec_app(handler: Handler) -> pyre.spec.Application:
    """The least an app does with these responses: coerce, prepare, turn HTTPException into a response."""

    async def app(spec_request: pyre.spec.Request) -> pyre.spec.Response:
        request = Request(spec_request)
        try:
            response = to_response(await handler(request))
            if isinstance(response, RequestAwareResponse):
                await response.prepare(request)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status=exc.status, headers=exc.headers)
        return response

    return app


async def fetch(handler: Handler, method: str = "GET", target: str = "/", **options: Any) -> DriverResponse:
    async with Driver(spec_app(handler)) as driver:
        return await driver.request(method, target, **options)


def returning(value: Any) -> Handler:
    async def handler(request: Request) -> Any:
        return value

    return handler


async def test_response_defaults() -> None:
    response = Response()
    assert isinstance(response, pyre.spec.Response)
    assert (response.status, response.headers, response.body) == (200, [], b"")
    assert response.trailers is None
    assert response.upgrade is None
    assert not hasattr(response, "__dict__")


async def test_response_str_content_and_media_type() -> None:
    response = Response("héllo", 201, {"X-Thing": "1"}, media_type="text/csv")
    assert response.body == "héllo".encode()
    assert response.status == 201
    assert response.headers == [(b"content-type", b"text/csv; charset=utf-8"), (b"x-thing", b"1")]


async def test_explicit_content_type_header_wins() -> None:
    response = JSONResponse({}, headers=[("Content-Type", "application/problem+json")])
    assert response.headers == [(b"content-type", b"application/problem+json")]


async def test_repeated_headers_as_pairs() -> None:
    response = Response(b"", headers=[("link", "<a>"), ("link", "<b>")])
    assert response.headers == [(b"link", b"<a>"), (b"link", b"<b>")]


@pytest.mark.parametrize(
    "headers",
    [{"x-bad": "a\r\nSet-Cookie: evil=1"}, {"bad name": "v"}, {"x": "nul\x00"}, {"": "v"}],
)
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        Response(b"", headers=headers)


async def test_text_and_html() -> None:
    text = await fetch(returning(TextResponse("plain é")))
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.body == "plain é".encode()
    html = await fetch(returning(HTMLResponse("<p>hi</p>", status=404)))
    assert (html.status, html.headers["content-type"], html.text) == (
        404,
        "text/html; charset=utf-8",
        "<p>hi</p>",
    )


class Pet(BaseModel):
    name: str
    born: datetime.date
    tag_id: int = Field(serialization_alias="tagId")


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


async def test_json_serialises_models_dataclasses_and_common_types() -> None:
    ident = uuid.UUID(int=1)
    payload = {
        "pet": Pet(name="Rex", born=datetime.date(2020, 1, 2), tag_id=7),
        "point": Point(1, 2),
        "when": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
        "id": ident,
        "colour": Colour.RED,
        "price": decimal.Decimal("1.10"),
        "tags": frozenset({"a"}),
    }
    response = await fetch(returning(JSONResponse(payload)))
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.body) == {
        "pet": {"name": "Rex", "born": "2020-01-02", "tagId": 7},
        "point": {"x": 1, "y": 2},
        "when": "2024-05-06T07:08:09+00:00",
        "id": str(ident),
        "colour": "red",
        "price": "1.10",
        "tags": ["a"],
    }


def test_json_with_non_str_keys_like_json_dumps() -> None:
    body = JSONResponse({1: "a"}).body
    assert isinstance(body, bytes)
    assert orjson.loads(body) == {"1": "a"}


def test_json_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError):
        JSONResponse({"x": object()})


def test_json_response_is_the_seed_call() -> None:
    response = JSONResponse({"message": "Hello, Ann! You are aged: 30"}, status=200)
    assert response.body == b'{"message":"Hello, Ann! You are aged: 30"}'


async def test_redirect_quotes_the_location() -> None:
    response = await fetch(returning(RedirectResponse("/docs/café page?q=1")))
    assert response.status == 307
    assert response.headers["location"] == "/docs/caf%C3%A9%20page?q=1"
    assert RedirectResponse("https://x.test/", status=303).status == 303


async def test_streaming_async_and_str_chunks() -> None:
    async def produce() -> AsyncIterator[bytes | str]:
        yield b"one,"
        yield "two"

    response = await fetch(returning(StreamingResponse(produce(), media_type="text/csv")))
    assert response.body == b"one,two"
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


async def test_streaming_sync_iterable_runs_in_a_thread() -> None:
    import threading

    threads: set[int] = set()

    def produce() -> Iterator[bytes]:
        for part in (b"a", b"b"):
            threads.add(threading.get_ident())
            yield part

    response = await fetch(returning(StreamingResponse(produce())))
    assert response.body == b"ab"
    assert threading.get_ident() not in threads


async def test_streaming_closes_the_producer_when_closed_early() -> None:
    closed = []

    async def produce() -> AsyncIterator[bytes]:
        try:
            for _ in range(10):
                yield b"x"
        finally:
            closed.append(True)

    body = StreamingResponse(produce()).body
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    iterator = aiter(body)
    assert await anext(iterator) == b"x"
    await iterator.aclose()  # type: ignore[attr-defined]
    assert closed == [True]


def test_set_cookie_attributes() -> None:
    response = Response()
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    response.set_cookie(
        "session",
        "abc123",
        max_age=3600,
        expires=expires,
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie("plain", "1", path=None, samesite=None)
    assert response.headers == [
        (
            b"set-cookie",
            b"session=abc123; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/; "
            b"Domain=example.com; Secure; HttpOnly; SameSite=Strict",
        ),
        (b"set-cookie", b"plain=1"),
    ]


def test_set_cookie_expires_in_seconds() -> None:
    response = Response()
    response.set_cookie("a", "1", expires=60)
    value = response.headers[0][1].decode()
    expires = value.split("Expires=")[1].split(";")[0]
    delta = datetime.datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=datetime.UTC
    ) - datetime.datetime.now(datetime.UTC)
    assert 0 < delta.total_seconds() <= 61


def test_delete_cookie() -> None:
    response = Response()
    response.delete_cookie("session", path="/app")
    assert response.headers == [
        (
            b"set-cookie",
            b"session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; SameSite=Lax",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value", "options"),
    [
        ("bad key", "v", {}),
        ("k", "has space", {}),
        ("k", "semi;colon", {}),
        ("k", "ü", {}),
        ("k", "v", {"path": "/a;b"}),
        ("k", "v", {"samesite": "sometimes"}),
    ],
)
def test_set_cookie_refuses_values_that_would_break_the_field(key: str, value: str, options: Any) -> None:
    with pytest.raises(ValueError):
        Response().set_cookie(key, value, **options)


async def test_cookie_round_trip_through_a_request() -> None:
    async def handler(request: Request) -> Response:
        response = TextResponse(request.cookies.get("n", "none"))
        response.set_cookie("n", str(int(request.cookies.get("n", "0")) + 1))
        return response

    first = await fetch(handler)
    assert first.text == "none"
    cookie = first.headers["set-cookie"].split(";")[0].encode()
    second = await fetch(handler, headers=[(b"cookie", cookie)])
    assert second.text == "1"
    assert second.headers["set-cookie"].startswith("n=2;")


# -- to_response -----------------------------------------------------------------------------------


async def test_coerce_str() -> None:
    response = await fetch(returning("Hello, Ann!"))
    assert (response.status, response.headers["content-type"], response.text) == (
        200,
        "text/plain; charset=utf-8",
        "Hello, Ann!",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, {"a": 1}),
        ([1, "x"], [1, "x"]),
        (Point(3, 4), {"x": 3, "y": 4}),
        (
            Pet(name="n", born=datetime.date(2000, 1, 1), tag_id=1),
            {"name": "n", "born": "2000-01-01", "tagId": 1},
        ),
    ],
)
async def test_coerce_to_json(value: Any, expected: Any) -> None:
    response = await fetch(returning(value))
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.body) == expected


async def test_coerce_bytes_and_none() -> None:
    data = await fetch(returning(b"\x00\x01"))
    assert (data.headers["content-type"], data.body) == ("application/octet-stream", b"\x00\x01")
    data = await fetch(returning(bytearray(b"ba")))
    assert data.body == b"ba"
    empty = await fetch(returning(None))
    assert (empty.status, empty.body, len(empty.headers)) == (204, b"", 0)


async def test_coerce_tuples() -> None:
    created = await fetch(returning(({"id": 1}, 201)))
    assert (created.status, orjson.loads(created.body)) == (201, {"id": 1})
    custom = await fetch(returning(("<b>x</b>", 202, {"Content-Type": "text/html", "X-A": "1"})))
    assert custom.status == 202
    assert custom.headers.get_all("content-type") == ["text/html"]
    assert custom.headers["x-a"] == "1"
    spec = await fetch(returning((Response(b"r"), 418)))
    assert (spec.status, spec.body) == (418, b"r")


def test_coerce_passes_spec_responses_through() -> None:
    response = pyre.spec.Response(200, [], b"raw")
    assert to_response(response) is response


def test_coerce_str_subclass() -> None:
    class Name(enum.StrEnum):
        ANN = "ann"

    assert to_response(Name.ANN).body == b"ann"


@pytest.mark.parametrize(
    ("value", "body"),
    [(42, b"42"), (-7, b"-7"), (3.5, b"3.5"), (True, b"true"), (False, b"false"), (Size.LARGE, b"3")],
)
async def test_coerce_numbers_and_booleans_to_json(value: Any, body: bytes) -> None:
    response = await fetch(returning(value))
    assert (response.status, response.headers["content-type"], response.body) == (
        200,
        "application/json",
        body,
    )
    created = await fetch(returning((value, 201)))
    assert (created.status, created.body) == (201, body)


@pytest.mark.parametrize("value", [object(), ("a", "not-a-status"), ("a",), Point])
def test_coerce_refuses_other_values(value: Any) -> None:
    with pytest.raises(TypeError):
        to_response(value)


def test_add_vary() -> None:
    headers = [(b"vary", b"Accept-Encoding")]
    add_vary(headers, b"Origin")
    add_vary(headers, b"origin")
    assert headers == [(b"vary", b"Accept-Encoding"), (b"vary", b"Origin")]
    star = [(b"vary", b"*")]
    add_vary(star, b"Origin")
    assert star == [(b"vary", b"*")]
