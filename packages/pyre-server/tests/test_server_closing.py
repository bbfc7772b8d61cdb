"""A response after which the server closes says so (RFC 9112 section 9.6), and nothing follows it.

"A server that sends a "close" connection option MUST initiate closure of the
connection ... after it sends the response containing that option", and a
client that reads ``connection: close`` knows not to send its next request on
a connection that is going away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from server_support import connect, exchange, serve

from pyre.spec import Request, RequestBodyTooLarge, Response

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
EXPECT_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"


async def answer_413(request: Request) -> Response:
    """Turns the server's content limit into its own response, as frameworks do."""
    try:
        await request.body.read()
    except RequestBodyTooLarge:
        return Response(413, body=b"too much")
    return Response(200, body=b"fine")


async def ignore_body(request: Request) -> Response:
    await asyncio.sleep(0)  # suspended: content that came with the head is parsed meanwhile
    return Response(200, body=b"not read")


async def test_413_for_chunked_content_over_the_limit_says_close() -> None:
    async with serve(answer_413, limit_body_size=1024) as server, connect(server) as client:
        await client.send(CHUNKED_HEAD + b"7d0\r\n" + bytes(2000) + b"\r\n0\r\n\r\n")
        reply = await client.reply()
        assert (reply.status, reply.body) == (413, b"too much")
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_413_while_chunked_content_is_still_arriving_says_close() -> None:
    async with serve(answer_413, limit_body_size=1024) as server, connect(server) as client:
        await client.send(CHUNKED_HEAD + b"7d0\r\n" + bytes(2000))
        reply = await client.reply()
        assert reply.status == 413
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_content_over_the_limit_the_app_never_read_says_close() -> None:
    async with serve(ignore_body, limit_body_size=1024) as server, connect(server) as client:
        await client.send(CHUNKED_HEAD + b"7d0\r\n" + bytes(2000) + b"\r\n0\r\n\r\n")
        reply = await client.reply()
        assert (reply.status, reply.body) == (200, b"not read")
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_content_within_the_limit_the_app_never_read_keeps_the_connection() -> None:
    async with serve(ignore_body, limit_body_size=1024) as server, connect(server) as client:
        await client.send(CHUNKED_HEAD + b"400\r\n" + bytes(1024) + b"\r\n0\r\n\r\n")
        reply = await client.reply()
        assert reply.status == 200
        assert reply.header(b"connection") is None
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.reply()).status == 200


async def test_answer_without_reading_100_continue_content_says_close() -> None:
    async def app(request: Request) -> Response:
        return Response(401, body=b"no")

    async with serve(app) as server, connect(server) as client:
        await client.send(EXPECT_HEAD)
        reply = await client.reply()
        assert reply.status == 401  # no 100 (Continue) first
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_streamed_answer_without_reading_100_continue_content_says_close() -> None:
    async def app(request: Request) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            yield b"streamed"

        return Response(200, body=stream())

    async with serve(app) as server, connect(server) as client:
        await client.send(EXPECT_HEAD)
        reply = await client.reply()
        assert (reply.status, reply.body) == (200, b"streamed")
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_100_continue_content_sent_without_waiting_keeps_the_connection() -> None:
    # RFC 9110 section 10.1.1: the content arrived anyway, so the connection stays usable.
    async with serve(ignore_body) as server, connect(server) as client:
        await client.send(EXPECT_HEAD + b"data")
        reply = await client.reply()
        assert reply.status == 200
        assert reply.header(b"connection") is None
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.reply()).status == 200


async def test_100_continue_content_read_after_the_interim_keeps_the_connection() -> None:
    async def app(request: Request) -> Response:
        return Response(200, body=await request.body.read())

    async with serve(app) as server, connect(server) as client:
        await client.send(EXPECT_HEAD)
        assert (await client.reply()).status == 100
        await client.send(b"data")
        reply = await client.reply()
        assert (reply.body, reply.header(b"connection")) == (b"data", None)


async def test_no_pipelined_request_is_processed_after_a_close_response() -> None:
    seen: list[str] = []

    async def app(request: Request) -> Response:
        seen.append(request.path)
        await asyncio.sleep(0)  # the next request is parsed and queued meanwhile
        return Response(200, [(b"connection", b"close")], b"bye")

    async with serve(app) as server:
        raw = await exchange(
            server, b"POST /delete-a HTTP/1.1\r\nHost: x\r\n\r\nPOST /delete-b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert raw.count(b"HTTP/1.1 ") == 1
    assert b"connection: close\r\n" in raw
    assert seen == ["/delete-a"]


async def test_reason_phrases_are_those_of_rfc_9110() -> None:
    async def app(request: Request) -> Response:
        return Response(422)

    async with serve(app, limit_body_size=10) as server:
        too_large = await exchange(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
        unprocessable = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert too_large.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert too_large.endswith(b"\r\n\r\nContent Too Large: request body too large\n")
    assert unprocessable.startswith(b"HTTP/1.1 422 Unprocessable Content\r\n")
