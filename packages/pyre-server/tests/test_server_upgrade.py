"""Protocol upgrade (pyre.upgrade): 101, then the raw connection belongs to the app."""

from __future__ import annotations

import asyncio

from server_support import connect, echo, exchange, serve, status_of

from pyre.spec import EXT_UPGRADE, ByteStream, Request, Response

UPGRADE = b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"


async def echo_protocol(stream: ByteStream) -> None:
    while data := await stream.read():
        await stream.write(data.upper())
    await stream.write(b"BYE")
    await stream.close()


async def app(request: Request) -> Response:
    assert request.server_info.supports(EXT_UPGRADE)
    if request.headers.get("upgrade") == "echo" and request.path == "/chat":
        return Response(101, [(b"connection", b"upgrade"), (b"upgrade", b"echo")], upgrade=echo_protocol)
    return Response(200, body=b"plain http")


async def test_upgrade_hands_the_connection_to_the_app() -> None:
    async with serve(app) as server, connect(server) as client:
        await client.send(
            UPGRADE + b"early bytes "
        )  # sent before the 101 arrives: still for the new protocol
        reply = await client.reply(head=True)
        assert reply.status == 101
        assert reply.header(b"connection") == b"upgrade"
        assert reply.header(b"upgrade") == b"echo"
        assert reply.header(b"content-length") is None
        assert await client.reader.readexactly(12) == b"EARLY BYTES "
        await client.send(b"hello")
        assert await client.reader.readexactly(5) == b"HELLO"
        client.writer.write_eof()  # the client closes its side: read() returns b""
        assert await asyncio.wait_for(client.reader.read(), 5) == b"BYE"


async def test_declined_upgrade_continues_as_http() -> None:
    async with serve(app) as server, connect(server) as client:
        await client.send(
            b"GET /other HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert (await client.reply()).body == b"plain http"
        assert (await client.reply()).body == b"plain http"


async def test_101_without_an_upgrade_request_is_refused() -> None:
    async def eager(request: Request) -> Response:
        return Response(101, [(b"upgrade", b"echo")], upgrade=echo_protocol)

    async with serve(eager) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) == 500


async def test_an_upgrade_request_with_content_declined() -> None:
    """Pyre spec PYRE-UPG-9: its content is its body, and the request behind it, one of its own.
    Part of the content comes after the head, in a batch of its own."""
    async with serve(echo) as server, connect(server) as client:
        await client.send(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
            b"Content-Length: 33\r\n\r\nGET /hidden"
        )
        await asyncio.sleep(0.05)
        await client.send(b" HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        upload = await client.reply()
        after = await client.reply()
    assert upload.status == 200
    assert upload.body == b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
    assert upload.header(b"x-method") == b"POST"
    assert (after.status, after.header(b"x-path")) == (200, b"/next")


async def test_an_upgrade_request_with_content_switched() -> None:
    """The stream starts after the content, whether the app read it or switched before it came."""
    contents: list[bytes] = []

    async def switching(request: Request) -> Response:
        if request.path == "/read":
            contents.append(await request.body.read())
        return Response(101, [(b"upgrade", b"echo")], upgrade=echo_protocol)

    head = b"Host: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\nContent-Length: 7\r\n\r\n"
    async with serve(switching) as server:
        async with connect(server) as client:
            await client.send(b"POST /read HTTP/1.1\r\n" + head + b"contentstream")
            assert (await client.reply(head=True)).status == 101
            assert await client.reader.readexactly(6) == b"STREAM"
        async with connect(server) as client:
            await client.send(b"POST /early HTTP/1.1\r\n" + head + b"con")
            assert (await client.reply(head=True)).status == 101
            await client.send(b"ten")
            await asyncio.sleep(0.05)
            await client.send(b"tstream")
            assert await client.reader.readexactly(6) == b"STREAM"
    assert contents == [b"content"]
