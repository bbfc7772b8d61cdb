"""Request content: framing, trailers, 100-continue, backpressure, disconnects, app errors."""

from __future__ import annotations

import asyncio

from server_support import connect, echo, exchange, serve, status_of

from pyre.spec import ClientDisconnected, Request, RequestBodyTooLarge, Response


async def test_content_length_and_chunked_bodies_with_trailers() -> None:
    async with serve(echo) as server, connect(server) as client:
        await client.send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert (await client.reply()).body == b"hello"
        await client.send(
            b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 7\r\n\r\n"
        )
        reply = await client.reply()
        assert reply.body == b"abcde"
        assert reply.header(b"x-trailer-x-sum") == b"7"


async def test_body_arriving_slowly_is_streamed_to_the_app() -> None:
    chunks: list[bytes] = []

    async def app(request: Request) -> Response:
        async for chunk in request.body:
            chunks.append(chunk)
        return Response(200, body=b"%d" % sum(map(len, chunks)))

    async with serve(app) as server, connect(server) as client:
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            await client.send(b"4\r\nabcd\r\n")
            await asyncio.sleep(0.01)
        await client.send(b"0\r\n\r\n")
        assert (await client.reply()).body == b"12"
    assert len(chunks) >= 2


async def test_unread_body_is_skipped_and_the_connection_reused() -> None:
    async def app(request: Request) -> Response:
        return Response(200, body=b"ignored your body")

    async with serve(app) as server, connect(server) as client:
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        assert (await client.reply()).status == 200
        await client.send(b"67890GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.reply()).status == 200


async def test_expect_100_continue_is_sent_only_when_the_app_reads() -> None:
    async def app(request: Request) -> Response:
        if request.path == "/read":
            return Response(200, body=await request.body.read())
        return Response(401, body=b"no")

    async with serve(app) as server:
        async with connect(server) as client:
            await client.send(
                b"POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
            )
            interim = await client.reply()
            assert interim.status == 100
            await client.send(b"ok")
            assert (await client.reply()).body == b"ok"
        async with connect(server) as client:
            await client.send(
                b"POST /deny HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
            )
            reply = await client.reply()
            assert reply.status == 401  # no 100 first
            assert await client.closed()  # the body never came: the connection cannot be reused
        # HTTP/1.0: never a 1xx (RFC 9110 section 10.1.1)
        raw = await exchange(
            server, b"POST /read HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
        )
        assert status_of(raw) == 200


async def test_send_interim_early_hints() -> None:
    async def app(request: Request) -> Response:
        await request.send_interim(103, [(b"link", b"</s.css>; rel=preload")])
        return Response(200, body=b"done")

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        hint = await client.reply()
        assert (hint.status, hint.header(b"link")) == (103, b"</s.css>; rel=preload")
        assert (await client.reply()).body == b"done"


async def test_large_body_is_read_with_backpressure() -> None:
    size = 8 * 1024 * 1024
    received = 0

    async def app(request: Request) -> Response:
        nonlocal received
        async for chunk in request.body:
            received += len(chunk)
            await asyncio.sleep(0)  # a slow consumer
        return Response(200, body=b"%d" % received)

    async with serve(app, limit_body_size=size) as server, connect(server) as client:
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"x" * 65536
        for _ in range(size // len(block)):
            client.writer.write(block)
            await client.writer.drain()
        assert (await client.reply()).body == b"%d" % size


async def test_body_too_large_raised_in_the_app_gives_413() -> None:
    async def app(request: Request) -> Response:
        await request.body.read(max_size=3)
        return Response(200)

    async with serve(app) as server:
        raw = await exchange(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert status_of(raw) == 413


async def test_app_catching_body_too_large_decides_the_response() -> None:
    async def app(request: Request) -> Response:
        try:
            await request.body.read(max_size=3)
        except RequestBodyTooLarge as error:
            return Response(422, body=b"limit %d" % error.limit)
        return Response(200)

    async with serve(app) as server, connect(server) as client:
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert (await client.reply()).body == b"limit 3"


async def test_disconnect_is_surfaced_to_the_app() -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def app(request: Request) -> Response:
        try:
            await request.body.read()
        except ClientDisconnected:
            await request.wait_disconnected()
            outcome.set_result(f"disconnected={request.disconnected}")
        return Response(200)

    async with serve(app) as server:
        async with connect(server) as client:
            await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            await asyncio.sleep(0.05)
        assert await asyncio.wait_for(outcome, 5) == "disconnected=True"


async def test_streaming_stops_when_the_client_goes_away() -> None:
    stopped: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def forever() -> object:
        try:
            while True:
                yield b"x" * 65536
                await asyncio.sleep(0)
        finally:
            stopped.set_result(True)

    async def app(request: Request) -> Response:
        return Response(200, body=forever())  # type: ignore[arg-type]

    async with serve(app) as server:
        async with connect(server) as client:
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await client.reader.readexactly(100_000)
        assert await asyncio.wait_for(stopped, 5)


async def test_write_backpressure_pauses_the_stream() -> None:
    produced = 0

    async def many() -> object:
        nonlocal produced
        for _ in range(400):
            produced += 1
            yield b"y" * 65536

    async def app(request: Request) -> Response:
        return Response(200, body=many())  # type: ignore[arg-type]

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.2)  # the client does not read: the server must stop producing
        assert produced < 400
        reply_rest = 0
        while reply_rest < 400 * 65536:
            data = await client.reader.read(1 << 20)
            assert data
            reply_rest += len(data) - data.count(b"\r\n10000\r\n") * 9
        assert produced == 400


async def test_app_error_before_the_response_gives_500_without_internals() -> None:
    async def app(request: Request) -> Response:
        raise RuntimeError("secret database password")

    async with serve(app) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) == 500
    assert b"secret" not in raw
    assert b"Traceback" not in raw


async def test_app_returning_something_else_gives_500() -> None:
    async def app(request: Request) -> object:
        return "hello"

    async with serve(app) as server:  # type: ignore[arg-type]
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) == 500


async def test_app_error_while_streaming_aborts_the_connection() -> None:
    async def broken() -> object:
        yield b"first"
        raise RuntimeError("boom")

    async def app(request: Request) -> Response:
        return Response(200, body=broken())  # type: ignore[arg-type]

    async with serve(app) as server:
        try:
            raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        except ConnectionResetError:
            raw = b""
    assert b"0\r\n\r\n" not in raw  # never a complete-looking message


async def test_one_bad_connection_does_not_affect_another() -> None:
    async with serve() as server, connect(server) as good:
        await good.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await good.reply()).status == 200
        assert status_of(await exchange(server, b"\x00\x01garbage\r\n\r\n")) == 400
        await good.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await good.reply()).status == 200


async def test_a_streamed_response_head_is_sent_before_the_first_chunk() -> None:
    release = asyncio.Event()

    async def events() -> object:
        await release.wait()
        yield b"data: hello\n\n"

    async def app(request: Request) -> Response:
        return Response(200, [(b"content-type", b"text/event-stream")], events())  # type: ignore[arg-type]

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        release.set()
        assert await client.reader.readexactly(18) == b"d\r\ndata: hello\n\n\r\n"


async def test_413_reaches_a_client_that_is_still_sending() -> None:
    # RFC 9112 section 9.6: close the write side, keep reading (a lingering close),
    # so that the kernel does not reset the connection and destroy the response.
    async with serve(echo, limit_body_size=1024) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n")
        try:
            for _ in range(60):
                writer.write(bytes(65536))
                await writer.drain()
        except ConnectionError:
            pass
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert status_of(raw) == 413
