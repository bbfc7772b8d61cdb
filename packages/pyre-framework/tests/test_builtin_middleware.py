from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import pyre.spec
from pyre.framework.middleware.cors import CORSMiddleware
from pyre.framework.middleware.gzip import GZipMiddleware, accepts_gzip
from pyre.framework.middleware.requestid import RequestIDMiddleware, current_request_id
from pyre.framework.middleware.trustedhost import TrustedHostMiddleware
from pyre.framework.requests import Request
from pyre.framework.responses import FileResponse, Response, StreamingResponse, TextResponse, to_response
from pyre.spec.testing import Driver, DriverResponse, MemoryRequest

Middleware = Callable[
    [Request, Callable[[Request], Awaitable[pyre.spec.Response]]], Awaitable[pyre.spec.Response]
]


def spec_app(middleware: Middleware, handler: Callable[[Request], Awaitable[Any]]) -> pyre.spec.Application:
    async def app(spec_request: pyre.spec.Request) -> pyre.spec.Response:
        async def call_next(request: Request) -> pyre.spec.Response:
            return to_response(await handler(request))

        return await middleware(Request(spec_request), call_next)

    return app


async def send(
    middleware: Middleware,
    handler: Callable[[Request], Awaitable[Any]] | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> DriverResponse:
    async def hello(request: Request) -> Any:
        return "hello"

    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    async with Driver(spec_app(middleware, handler or hello)) as driver:
        return await driver.request(method, "/", headers=raw)


def returning(value: Any) -> Callable[[Request], Awaitable[Any]]:
    async def handler(request: Request) -> Any:
        return value

    return handler


# -- CORS ----------------------------------------------------------------------------------------

SITE = "https://app.example"


async def test_cors_without_origin_is_untouched() -> None:
    response = await send(CORSMiddleware(allow_origins=[SITE]))
    assert "access-control-allow-origin" not in response.headers
    assert "vary" not in response.headers


async def test_cors_simple_request_from_allowed_origin() -> None:
    cors = CORSMiddleware(allow_origins=[SITE], expose_headers=["X-Total"])
    response = await send(cors, headers={"Origin": SITE})
    assert response.text == "hello"
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-expose-headers"] == "X-Total"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


async def test_cors_disallowed_origin_gets_no_grant_but_still_varies() -> None:
    response = await send(CORSMiddleware(allow_origins=[SITE]), headers={"Origin": "https://evil.example"})
    assert response.status == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


async def test_cors_wildcard_without_credentials_is_star() -> None:
    response = await send(CORSMiddleware(allow_origins=["*"]), headers={"Origin": SITE})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "vary" not in response.headers


async def test_cors_wildcard_with_credentials_echoes_the_origin() -> None:
    cors = CORSMiddleware(allow_origins=["*"], allow_credentials=True)
    response = await send(cors, headers={"Origin": SITE})
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


async def test_cors_preflight_allowed() -> None:
    cors = CORSMiddleware(
        allow_origins=[SITE], allow_methods=["GET", "PUT"], allow_headers=["X-Token"], max_age=99
    )
    called = []

    async def handler(request: Request) -> Any:
        called.append(True)
        return "not reached"

    response = await send(
        cors,
        handler,
        method="OPTIONS",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-token, Content-Type",
        },
    )
    assert not called
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "GET, PUT"
    assert response.headers["access-control-max-age"] == "99"
    allowed = {name.strip() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-token", "content-type"} <= allowed
    assert response.headers["vary"] == "Origin"


async def test_cors_preflight_with_wildcards_echoes_requested_headers() -> None:
    cors = CORSMiddleware(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    response = await send(
        cors,
        method="OPTIONS",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "X-A",
        },
    )
    assert response.status == 204
    assert "DELETE" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "x-a"
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, "origin"),
        ({"Origin": SITE, "Access-Control-Request-Method": "DELETE"}, "method"),
        (
            {
                "Origin": SITE,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-Secret",
            },
            "headers",
        ),
    ],
)
async def test_cors_preflight_refused(headers: dict[str, str], problem: str) -> None:
    response = await send(CORSMiddleware(allow_origins=[SITE]), method="OPTIONS", headers=headers)
    assert response.status == 400
    assert problem in response.text
    assert "access-control-allow-origin" not in response.headers


async def test_cors_plain_options_is_not_a_preflight() -> None:
    response = await send(CORSMiddleware(allow_origins=[SITE]), method="OPTIONS", headers={"Origin": SITE})
    assert (response.status, response.text) == (200, "hello")


# -- GZip ----------------------------------------------------------------------------------------

LARGE = "pyre " * 200


async def test_gzip_compresses_large_bodies() -> None:
    response = await send(GZipMiddleware(), returning(LARGE), headers={"Accept-Encoding": "br, gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert gzip.decompress(response.body).decode() == LARGE


async def test_gzip_drops_stale_content_length_and_weakens_etag() -> None:
    handler = returning(Response(LARGE, headers={"Content-Length": str(len(LARGE)), "ETag": '"v1"'}))
    response = await send(GZipMiddleware(), handler, headers={"Accept-Encoding": "gzip"})
    assert "content-length" not in response.headers
    assert response.headers["etag"] == 'W/"v1"'


async def test_gzip_not_accepted_still_varies() -> None:
    for accept in (None, "identity", "gzip;q=0", "*;q=0", "br"):
        headers = {"Accept-Encoding": accept} if accept else {}
        response = await send(GZipMiddleware(), returning(LARGE), headers=headers)
        assert "content-encoding" not in response.headers, accept
        assert response.text == LARGE
        assert response.headers["vary"] == "Accept-Encoding"


async def test_gzip_leaves_small_bodies_alone() -> None:
    response = await send(
        GZipMiddleware(minimum_size=500), returning("tiny"), headers={"Accept-Encoding": "gzip"}
    )
    assert response.body == b"tiny"
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers


async def test_gzip_streams_chunk_by_chunk() -> None:
    async def produce() -> AsyncIterator[bytes]:
        for index in range(3):
            yield f"chunk {index};".encode()

    middleware = GZipMiddleware()
    request = Request(MemoryRequest("GET", "/", headers=[(b"accept-encoding", b"gzip")]))

    async def call_next(request: Request) -> pyre.spec.Response:
        return StreamingResponse(produce())

    response = await middleware(request, call_next)
    body = response.body
    assert not isinstance(body, bytes | pyre.spec.FileBody)
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    # Each chunk is flushed, so each one decompresses on arrival.
    pieces = [decompressor.decompress(chunk) async for chunk in body]
    assert pieces[:3] == [b"chunk 0;", b"chunk 1;", b"chunk 2;"]
    assert b"".join(pieces) + decompressor.flush() == b"chunk 0;chunk 1;chunk 2;"


@pytest.mark.parametrize(
    "response",
    [
        Response(LARGE, headers={"Content-Encoding": "br"}),
        Response(LARGE, status=206, headers={"Content-Range": "bytes 0-999/5000"}),
        Response(LARGE, media_type="text/event-stream"),
        Response(b"", status=204),
    ],
)
async def test_gzip_skips(response: Response) -> None:
    before = response.body
    result = await send(
        GZipMiddleware(minimum_size=0), returning(response), headers={"Accept-Encoding": "gzip"}
    )
    assert result.body == before
    assert result.headers.get("content-encoding") in (None, "br")


async def test_gzip_keeps_file_bodies_on_the_sendfile_path(tmp_path: Any) -> None:
    path = tmp_path / "f.txt"
    path.write_text(LARGE)
    result = await send(GZipMiddleware(), returning(FileResponse(path)), headers={"Accept-Encoding": "gzip"})
    assert isinstance(result.response and result.response.body, pyre.spec.FileBody)
    assert result.text == LARGE


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("deflate, x-gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("*, gzip;q=0", False),
        ("gzip;q=bogus", False),
        ("", False),
    ],
)
def test_accepts_gzip(value: str, accepted: bool) -> None:
    assert accepts_gzip(value) is accepted


# -- trusted hosts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("EXAMPLE.com:8443", True),
        ("example.com.", True),
        ("api.example.com", True),
        ("a.b.example.com", True),
        ("evil.com", False),
        ("example.com.evil.com", False),
        ("notexample.com", False),
        ("other.test", False),
        ("[::1]:80", True),
    ],
)
async def test_trusted_hosts(host: str, allowed: bool) -> None:
    middleware = TrustedHostMiddleware(["example.com", "*.example.com", "::1"])
    response = await send(middleware, headers={"Host": host})
    assert response.status == (200 if allowed else 400)
    if not allowed:
        assert response.text == "Invalid host header"


async def test_wildcard_subdomain_does_not_cover_the_apex() -> None:
    response = await send(TrustedHostMiddleware(["*.example.com"]), headers={"Host": "example.com"})
    assert response.status == 400


async def test_missing_host_is_refused_unless_any_host() -> None:
    async def app(middleware: Middleware) -> int:
        spec_request = MemoryRequest("GET", "/")
        assert spec_request.authority is None

        async def call_next(request: Request) -> pyre.spec.Response:
            return TextResponse("ok")

        return (await middleware(Request(spec_request), call_next)).status

    assert await app(TrustedHostMiddleware(["example.com"])) == 400
    assert await app(TrustedHostMiddleware(["*"])) == 200


def test_trusted_host_rejects_inner_wildcards() -> None:
    with pytest.raises(ValueError):
        TrustedHostMiddleware(["api.*.example.com"])


# -- request ID ----------------------------------------------------------------------------------


async def test_request_id_is_generated_and_visible_to_the_handler() -> None:
    seen = []

    async def handler(request: Request) -> Any:
        seen.append(current_request_id())
        return "ok"

    response = await send(RequestIDMiddleware(), handler)
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert int(request_id, 16) >= 0
    assert seen == [request_id]
    assert current_request_id() is None


async def test_request_id_is_echoed_when_acceptable() -> None:
    response = await send(RequestIDMiddleware(), headers={"X-Request-ID": "abc-123"})
    assert response.headers.get_all("x-request-id") == ["abc-123"]


@pytest.mark.parametrize("incoming", ["has space", "x" * 201, "tab\tinside", "é"])
async def test_unacceptable_incoming_ids_are_replaced(incoming: str) -> None:
    raw = [(b"x-request-id", incoming.encode())]
    async with Driver(spec_app(RequestIDMiddleware(), returning("ok"))) as driver:
        response = await driver.request("GET", "/", headers=raw)
    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


async def test_untrusted_incoming_id_is_ignored() -> None:
    response = await send(
        RequestIDMiddleware("X-Correlation-ID", trust_incoming=False), headers={"X-Correlation-ID": "mine"}
    )
    assert response.headers["x-correlation-id"] != "mine"


async def test_request_id_replaces_one_the_handler_set() -> None:
    handler = returning(TextResponse("ok", headers={"X-Request-ID": "from-handler"}))
    response = await send(RequestIDMiddleware(), handler, headers={"X-Request-ID": "abc"})
    assert response.headers.get_all("x-request-id") == ["abc"]
