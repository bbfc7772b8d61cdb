"""RFC 9112 message handling over real loopback sockets: persistence, pipelining, framing."""

from __future__ import annotations

import asyncio
import re

import pytest
from server_support import connect, echo, exchange, serve, status_of

from pyre.spec import Request, Response

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with serve() as server, connect(server) as client:
        for _ in range(3):
            await client.send(GET)
            reply = await client.reply()
            assert reply.status == 200
            assert reply.body == b"Hello, world!"
            assert reply.header(b"content-length") == b"13"
            assert reply.header(b"connection") is None


async def test_pipelined_responses_come_in_request_order_even_when_the_first_is_slow() -> None:
    async def app(request: Request) -> Response:
        if request.path == "/slow":
            await asyncio.sleep(0.05)
        return Response(200, body=request.path.encode())

    async with serve(app) as server, connect(server) as client:
        paths = [b"/slow", b"/a", b"/b", b"/slow", b"/c"]
        await client.send(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path for path in paths))
        assert [(await client.reply()).body for _ in paths] == paths


async def test_connection_close_is_honoured_and_nothing_after_it_is_processed() -> None:
    seen = []

    async def app(request: Request) -> Response:
        seen.append(request.path)
        return Response(200, body=b"ok")

    async with serve(app) as server:
        raw = await exchange(
            server,
            b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    assert raw.count(b"HTTP/1.1 ") == 1
    assert b"connection: close\r\n" in raw
    assert seen == ["/1"]


async def test_http10_closes_by_default_and_keeps_alive_on_request() -> None:
    async with serve() as server:
        raw = await exchange(server, b"GET / HTTP/1.0\r\n\r\n")
        assert status_of(raw) == 200
        assert b"connection: close" in raw
        async with connect(server) as client:
            for _ in range(2):
                await client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                reply = await client.reply()
                assert reply.header(b"connection") == b"keep-alive"


async def test_app_connection_close_header_closes_after_the_response() -> None:
    async def app(request: Request) -> Response:
        return Response(200, [(b"connection", b"close")], b"bye")

    async with serve(app) as server:
        raw = await exchange(server, GET + GET)
    assert raw.count(b"HTTP/1.1 200") == 1
    assert raw.count(b"connection: close") == 1


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # RFC 9112 section 6.1 / 6.3: request smuggling defences
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        # RFC 9112 section 3.2: Host
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [v1]\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [vx.a]\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        # RFC 9112 section 5: field syntax
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: x\n\n", 400),
        # RFC 9112 section 3: request line
        (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"G" * 65 + b" / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"G" * 16384 + b" / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /\r\nHost: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\na", 417),
    ],
)
async def test_bad_requests_get_a_precise_status_and_the_connection_closes(
    request_bytes: bytes, status: int
) -> None:
    seen = []

    async def app(request: Request) -> Response:
        seen.append(request)
        return Response(200)

    async with serve(app) as server:
        raw = await exchange(server, request_bytes + GET)
    assert status_of(raw) == status
    assert raw.count(b"HTTP/1.1 ") == 1, "nothing after a rejected request is answered"
    assert b"connection: close\r\n" in raw
    assert seen == []


async def test_malformed_chunked_content_gets_400_and_close() -> None:
    async with serve(echo) as server:
        raw = await exchange(
            server,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        )
    assert status_of(raw) == 400
    assert raw.count(b"HTTP/1.1") == 1


async def test_any_method_token_reaches_the_app_case_preserved() -> None:
    # RFC 9110 section 9.1: "The method token is case-sensitive"; llhttp knows a fixed list.
    async with serve(echo) as server, connect(server) as client:
        await client.send(
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"X-CUSTOM_1! /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            b"BREW /pot HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\t\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        )
        replies = [await client.reply() for _ in range(4)]
    assert [r.header(b"x-method") for r in replies] == [b"get", b"GET", b"X-CUSTOM_1!", b"BREW"]
    assert [r.body for r in replies] == [b"", b"", b"hi", b"ok"]


async def test_higher_minor_version_is_treated_as_http11() -> None:
    async with serve(echo) as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n")
        assert (await client.reply()).header(b"x-version") == b"1.1"


async def test_a_bad_request_after_good_pipelined_ones_is_answered_in_order() -> None:
    async with serve() as server:
        raw = await exchange(server, GET + GET + b"GET / HTTP/1.1\r\n\r\n" + GET)
    assert re.findall(rb"HTTP/1\.1 (\d+)", raw) == [b"200", b"200", b"400"]


async def test_absolute_form_takes_the_authority_from_the_target() -> None:
    async with serve(echo) as server, connect(server) as client:
        await client.send(b"GET http://example.org:8080/p/a?x=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        reply = await client.reply()
    assert reply.header(b"x-authority") == b"example.org:8080"
    assert reply.header(b"x-path") == b"/p/a"
    assert reply.header(b"x-query") == b"x=1"


async def test_each_request_on_a_connection_gets_its_own_authority_path_and_query() -> None:
    # The server checks and decodes a Host once while it repeats; a change must still be seen.
    requests = [
        (b"/a?x=1", b"one.example", b"/a", b"x=1"),
        (b"/a", b"one.example", b"/a", b""),
        (b"/b?", b"two.example:81", b"/b", b""),
        (b"http://three.example/c?y", b"two.example:81", b"/c", b"y"),
        (b"/d", b"two.example:81", b"/d", b""),
        (b"/e", b"", b"/e", b""),
    ]
    async with serve(echo) as server, connect(server) as client:
        for target, host, path, query in requests:
            await client.send(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host))
            reply = await client.reply()
            authority = b"three.example" if target.startswith(b"http:") else host
            assert (reply.header(b"x-authority"), reply.header(b"x-path")) == (authority or b"-", path)
            assert reply.header(b"x-query") == query


async def test_request_fields_are_delivered_raw_with_percent_decoded_path() -> None:
    async def app(request: Request) -> Response:
        assert request.headers.get("x-thing") == "a\tb"
        assert request.headers.raw[1] == (b"X-Thing", b"a\tb")
        assert request.target == b"/caf%C3%A9/%ff?q=%20"
        assert request.raw_path == b"/caf%C3%A9/%ff"
        return Response(200, body=request.path.encode())

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET /caf%C3%A9/%ff?q=%20 HTTP/1.1\r\nHost: x\r\nX-Thing: a\tb  \r\n\r\n")
        reply = await client.reply()
    assert reply.status == 200
    assert reply.body.decode() == "/café/\ufffd"


async def test_leading_empty_lines_before_a_request_are_ignored() -> None:
    # RFC 9112 section 2.2: "a server that is expecting to receive and parse a
    # request-line SHOULD ignore at least one empty line (CRLF) received prior to the request-line".
    async with serve() as server, connect(server) as client:
        await client.send(b"\r\n" + GET)
        assert (await client.reply()).status == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 600 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 20 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413),
    ],
)
async def test_limits(request_bytes: bytes, status: int) -> None:
    limits = {
        "limit_request_line": 256,
        "limit_header_size": 512,
        "limit_header_count": 10,
        "limit_body_size": 1000,
    }
    async with serve(echo, **limits) as server:
        raw = await exchange(server, request_bytes)
    assert status_of(raw) == status
    assert b"connection: close" in raw


async def test_chunked_body_beyond_the_limit_gets_413() -> None:
    async with serve(echo, limit_body_size=10) as server:
        raw = await exchange(
            server,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"8\r\n12345678\r\n8\r\n12345678\r\n",
        )
    assert status_of(raw) == 413


async def test_head_gets_headers_and_no_content() -> None:
    async with serve() as server, connect(server) as client:
        await client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
        head = await client.reply(head=True)
        assert head.header(b"content-length") == b"13"
        following = await client.reply()
        assert following.body == b"Hello, world!"


@pytest.mark.parametrize("status", [204, 304])
async def test_no_content_statuses_have_no_body_and_no_framing(status: int) -> None:
    async def app(request: Request) -> Response:
        return Response(status, [(b"etag", b'"x"')], b"ignored")

    async with serve(app) as server, connect(server) as client:
        await client.send(GET + GET)
        for _ in range(2):
            reply = await client.reply()
            assert reply.status == status
            assert reply.header(b"content-length") is None
            assert reply.header(b"transfer-encoding") is None


async def test_server_owns_framing_and_adds_date_and_server() -> None:
    async def app(request: Request) -> Response:
        return Response(200, [(b"transfer-encoding", b"gzip"), (b"content-length", b"99")], b"abc")

    async with serve(app) as server, connect(server) as client:
        await client.send(GET)
        reply = await client.reply()
    assert reply.body == b"abc"
    assert reply.all(b"content-length") == [b"3"]
    assert reply.header(b"transfer-encoding") is None
    assert re.fullmatch(
        rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", reply.header(b"date") or b""
    )
    assert reply.header(b"server") == b"pyre"


async def test_server_header_can_be_turned_off() -> None:
    async with serve(server_header=False) as server, connect(server) as client:
        await client.send(GET)
        assert (await client.reply()).header(b"server") is None


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-evil", b"a\r\nset-cookie: x=1")],
        [(b"x-evil", b"a\nb")],
        [(b"x-evil", b"a\x00b")],
        [(b"bad name", b"v")],
        [(b"", b"v")],
        [("str", "str")],
        [[b"x-list", b"not a tuple"]],
    ],
)
async def test_response_header_injection_is_refused_with_500(headers: list[tuple[bytes, bytes]]) -> None:
    async def app(request: Request) -> Response:
        return Response(200, headers, b"x")

    async with serve(app) as server:
        raw = await exchange(server, GET)
    assert status_of(raw) == 500
    assert b"set-cookie" not in raw


async def test_streamed_body_is_chunked_for_http11_and_close_delimited_for_http10() -> None:
    async def parts() -> object:
        for part in (b"one ", b"", b"two"):
            await asyncio.sleep(0)
            yield part

    async def app(request: Request) -> Response:
        return Response(200, body=parts())  # type: ignore[arg-type]

    async with serve(app) as server:
        async with connect(server) as client:
            await client.send(GET + GET)
            for _ in range(2):
                reply = await client.reply()
                assert reply.header(b"transfer-encoding") == b"chunked"
                assert reply.body == b"one two"
        raw = await exchange(server, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert raw.endswith(b"\r\n\r\none two")
    assert b"transfer-encoding" not in raw
    assert b"connection: close" in raw


async def test_streamed_body_with_declared_length_uses_it() -> None:
    async def parts() -> object:
        yield b"ab"
        yield b"c"

    async def app(request: Request) -> Response:
        return Response(200, [(b"content-length", b"3")], parts())  # type: ignore[arg-type]

    async with serve(app) as server, connect(server) as client:
        await client.send(GET)
        reply = await client.reply()
    assert reply.header(b"content-length") == b"3"
    assert reply.body == b"abc"


async def test_trailers_are_sent_in_the_last_chunk() -> None:
    async def trailers() -> list[tuple[bytes, bytes]]:
        return [(b"x-checksum", b"42")]

    async def app(request: Request) -> Response:
        return Response(200, body=b"data", trailers=trailers)

    async with serve(app) as server, connect(server) as client:
        await client.send(GET)
        reply = await client.reply()
    assert reply.body == b"data"
    assert reply.trailers == [(b"x-checksum", b"42")]


async def test_file_body(tmp_path: object) -> None:
    import pathlib

    from pyre.spec import FileBody

    path = pathlib.Path(str(tmp_path)) / "f.bin"
    path.write_bytes(bytes(range(256)) * 2000)

    async def app(request: Request) -> Response:
        return Response(200, body=FileBody(path=path, offset=10, count=300_000))

    async with serve(app) as server, connect(server) as client:
        await client.send(GET)
        reply = await client.reply()
    assert reply.header(b"content-length") == b"300000"
    assert reply.body == (bytes(range(256)) * 2000)[10:300_010]


@pytest.mark.parametrize(
    "host", [b"[::1]", b"[::1]:8000", b"[v1.fe80::a+en1]", b"[V7.x:y]:80", b"127.0.0.1:8", b"example.com"]
)
async def test_ip_literals_and_names_are_valid_hosts(host: bytes) -> None:
    # RFC 3986 section 3.2.2: an IP-literal is an IPv6 address or an IPvFuture.
    async def app(request: Request) -> Response:
        return Response(200, body=(request.headers.get("host") or "").encode())

    async with serve(app) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host)
    assert status_of(raw) == 200
    assert raw.endswith(host)


async def test_a_method_of_64_octets_reaches_the_app() -> None:
    methods = []

    async def app(request: Request) -> Response:
        methods.append(request.method)
        return Response(200)

    async with serve(app) as server:
        raw = await exchange(server, b"M" * 64 + b" / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 200
    assert methods == ["M" * 64]
