"""Protocol upgrade (pyre.upgrade): 101, then the raw connection belongs to the app."""

from __future__ import annotations

import asyncio

from server_support import connect, exchange, serve, status_of

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
