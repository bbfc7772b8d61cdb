"""from_asgi with WebSocket scopes: the handshake through a 101 upgrade, then RFC 6455 frames.

The test plays the pyre server (it calls ``Response.upgrade`` with an in-memory
``ByteStream``) and the WebSocket client (masked frames, section 5.3).
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest

from pyre.asgi import from_asgi
from pyre.spec import EXT_UPGRADE, ClientDisconnected, Response, ServerInfo
from pyre.spec.testing import Driver

UPGRADING = ServerInfo(name="upgrading-server", extensions=frozenset({EXT_UPGRADE}))
# RFC 6455 section 1.3's example key and its accept value.
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
HANDSHAKE = [
    (b"upgrade", b"websocket"),
    (b"connection", b"keep-alive, Upgrade"),
    (b"sec-websocket-key", KEY),
    (b"sec-websocket-version", b"13"),
    (b"sec-websocket-protocol", b"chat, superchat"),
]


class Pipe:
    """An in-memory connection: ``read``/``write``/``close`` are the server's ByteStream."""

    def __init__(self) -> None:
        self.to_server: asyncio.Queue[bytes] = asyncio.Queue()
        self.to_client: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffer = b""
        self.closed = False

    async def read(self, max_bytes: int = 65536) -> bytes:
        if self.closed:
            raise ClientDisconnected
        return await self.to_server.get()

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ClientDisconnected
        self.to_client.put_nowait(data)

    async def close(self) -> None:
        self.closed = True
        self.to_client.put_nowait(b"")

    # -- the client's end -----------------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> None:
        mask = os.urandom(4) if masked else b""
        length = len(payload)
        first = (0x80 if fin else 0) | opcode
        flag = 0x80 if masked else 0
        if length < 126:
            head = struct.pack("!BB", first, flag | length)
        elif length < 65536:
            head = struct.pack("!BBH", first, flag | 126, length)
        else:
            head = struct.pack("!BBQ", first, flag | 127, length)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
        self.to_server.put_nowait(head + mask + body)

    def hang_up(self) -> None:
        self.to_server.put_nowait(b"")

    async def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = await self.to_client.get()
            if not data:
                raise EOFError
            self.buffer += data
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    async def frame(self) -> tuple[int, bytes]:
        first, second = await self._take(2)
        assert not second & 0x80, "server frames are never masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._take(8))
        assert first & 0x80, "this server sends unfragmented frames"
        return first & 0x0F, await self._take(length)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    assert (await receive())["type"] == "websocket.connect"
    await send(
        {"type": "websocket.accept", "subprotocol": scope["subprotocols"][0], "headers": [(b"x-hi", b"1")]}
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            seen.append(message)
            return
        seen.append(message)
        if message["text"] is not None:
            await send({"type": "websocket.send", "text": message["text"].upper()})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


seen: list[dict[str, Any]] = []


async def handshake(app: Any, headers: list[tuple[bytes, bytes]] = HANDSHAKE) -> Response:
    async with Driver(from_asgi(app), server_info=UPGRADING) as driver:
        return await driver.app(driver.build("GET", "/ws?room=1", headers=headers))


async def test_handshake_accepts_with_the_rfc_key_and_subprotocol() -> None:
    response = await handshake(echo)
    assert response.status == 101
    headers = dict(response.headers)
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"sec-websocket-accept"] == ACCEPT
    assert headers[b"sec-websocket-protocol"] == b"chat"
    assert headers[b"x-hi"] == b"1"
    assert response.upgrade is not None


async def test_messages_both_ways_and_client_close() -> None:
    seen.clear()
    response = await handshake(echo)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))

    pipe.send_frame(0x1, "héllo".encode())
    assert await pipe.frame() == (0x1, "HÉLLO".encode())
    pipe.send_frame(0x2, b"\x01\x02\x03")
    assert await pipe.frame() == (0x2, b"\x03\x02\x01")
    # A fragmented text message with a ping in the middle (section 5.4, 5.5.2).
    pipe.send_frame(0x1, b"frag", fin=False)
    pipe.send_frame(0x9, b"are you there")
    pipe.send_frame(0x0, b"mented")
    assert await pipe.frame() == (0xA, b"are you there")
    assert await pipe.frame() == (0x1, b"FRAGMENTED")
    big = os.urandom(70_000)
    pipe.send_frame(0x2, big)
    assert await pipe.frame() == (0x2, big[::-1])

    pipe.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
    assert await pipe.frame() == (0x8, struct.pack("!H", 1000))  # the server echoes the code
    await endpoint
    assert pipe.closed
    assert seen[-1] == {"type": "websocket.disconnect", "code": 1000, "reason": "bye"}
    assert [m.get("text") for m in seen[:-1]] == ["héllo", None, "fragmented", None]


async def test_app_closing_starts_the_closing_handshake() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "only once"})
        await send({"type": "websocket.close", "code": 4000, "reason": "done"})
        with pytest.raises(OSError):
            await send({"type": "websocket.send", "text": "too late"})

    response = await handshake(app)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    assert await pipe.frame() == (0x1, b"only once")
    assert await pipe.frame() == (0x8, struct.pack("!H", 4000) + b"done")
    pipe.send_frame(0x8, struct.pack("!H", 4000))
    await endpoint
    assert pipe.closed


async def test_app_returning_closes_normally() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    response = await handshake(app)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    assert await pipe.frame() == (0x8, struct.pack("!H", 1000))
    pipe.send_frame(0x8, struct.pack("!H", 1000))
    await endpoint
    assert pipe.closed


async def test_unmasked_client_frame_fails_the_connection() -> None:
    seen.clear()
    response = await handshake(echo)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.send_frame(0x1, b"naked", masked=False)
    opcode, payload = await pipe.frame()
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1002))
    pipe.hang_up()
    await endpoint
    assert seen[-1]["code"] == 1002


async def test_invalid_utf8_text_fails_with_1007() -> None:
    seen.clear()
    response = await handshake(echo)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.send_frame(0x1, b"\xff\xfe")
    opcode, payload = await pipe.frame()
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1007))
    pipe.hang_up()
    await endpoint
    assert seen[-1]["code"] == 1007


async def test_client_vanishing_is_a_1006_disconnect() -> None:
    seen.clear()
    response = await handshake(echo)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.hang_up()
    await endpoint
    assert seen[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


async def test_app_error_after_accept_closes_with_1011_and_propagates() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise LookupError("bug")

    response = await handshake(app)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.send_frame(0x1, b"boom")
    assert await pipe.frame() == (0x8, struct.pack("!H", 1011))
    pipe.send_frame(0x8, struct.pack("!H", 1011))
    with pytest.raises(LookupError):
        await endpoint


async def test_close_before_accept_is_403() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close"})

    response = await handshake(app)
    assert (response.status, response.upgrade, response.body) == (403, None, b"")


async def test_denial_response_extension() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        await send(
            {"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]}
        )
        await send({"type": "websocket.http.response.body", "body": b"log in", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b" first"})

    response = await handshake(app)
    assert (response.status, list(response.headers), response.body) == (
        401,
        [(b"x-why", b"token")],
        b"log in first",
    )


async def test_websocket_scope() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.close"})

    await handshake(app)
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert (scope["path"], scope["query_string"]) == ("/ws", b"room=1")
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["asgi"]["version"] == "3.0"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ((b"sec-websocket-version", b"8"), 426),
        ((b"sec-websocket-key", b"short"), 400),
        ((b"connection", b"keep-alive"), 400),
    ],
)
async def test_bad_handshakes_are_refused(change: tuple[bytes, bytes], status: int) -> None:
    headers = [change if name == change[0] else (name, value) for name, value in HANDSHAKE]
    response = await handshake(echo, headers)
    assert response.status == status
    assert response.upgrade is None


async def test_server_without_upgrades_gives_an_http_scope() -> None:
    async with Driver(from_asgi(echo)) as driver:
        response = await driver.request("GET", "/ws", headers=HANDSHAKE)
    assert (response.status, response.body) == (200, b"plain http")


# -- receive() before the answer (Quart's pattern) ------------------------------------------------


def reading_in_a_task(accept: bool, seen: list[dict[str, Any]]) -> Any:
    """Quart's shape: one task keeps calling receive(), another answers the handshake, then echoes."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan")
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def reader() -> None:
            while True:
                message = await receive()
                seen.append(message)
                if message["type"] == "websocket.receive":
                    await queue.put(message["text"])
                elif message["type"] == "websocket.disconnect":
                    return

        async def handler() -> None:
            await asyncio.sleep(0.01)  # the reader is already waiting in receive()
            if not accept:
                await send({"type": "websocket.close"})
                return
            await send({"type": "websocket.accept", "headers": [[b"X-Handler", bytearray(b"quart-like")]]})
            text = await queue.get()
            await send({"type": "websocket.send", "text": f"echo {text}"})
            await send({"type": "websocket.send", "bytes": memoryview(b"bytes-like")})

        reading = asyncio.ensure_future(reader())
        handling = asyncio.ensure_future(handler())
        done, pending = await asyncio.wait([reading, handling], return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()

    return app


async def test_receive_before_accepting_waits_for_the_connection() -> None:
    seen: list[dict[str, Any]] = []
    response = await asyncio.wait_for(handshake(reading_in_a_task(True, seen)), 10)
    assert response.status == 101
    assert (b"x-handler", b"quart-like") in list(response.headers)
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.send_frame(0x1, b"hi")
    assert await pipe.frame() == (0x1, b"echo hi")
    assert await pipe.frame() == (0x2, b"bytes-like")
    assert await pipe.frame() == (0x8, struct.pack("!H", 1000))  # the handler returned
    pipe.send_frame(0x8, struct.pack("!H", 1000))
    await asyncio.wait_for(endpoint, 10)
    assert [message["type"] for message in seen[:2]] == ["websocket.connect", "websocket.receive"]


async def test_receive_before_a_refusal_gets_the_disconnect() -> None:
    seen: list[dict[str, Any]] = []
    response = await asyncio.wait_for(handshake(reading_in_a_task(False, seen)), 10)
    assert (response.status, response.upgrade) == (403, None)
    await asyncio.sleep(0.01)  # the reader task wakes with the disconnect
    assert [message["type"] for message in seen] == ["websocket.connect", "websocket.disconnect"]


async def test_denial_response_in_list_and_bytes_like_shapes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {"type": "websocket.http.response.start", "status": 401, "headers": [[b"X-Why", b"token"]]}
        )
        await send({"type": "websocket.http.response.body", "body": memoryview(b"log in")})

    response = await handshake(app)
    assert (response.status, list(response.headers), response.body) == (
        401,
        [(b"x-why", b"token")],
        b"log in",
    )


async def test_websocket_path_includes_the_root_path() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan")
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.close"})

    async with Driver(from_asgi(app), server_info=UPGRADING) as driver:
        await driver.app(driver.build("GET", "/ws", headers=HANDSHAKE, root_path="/api"))
    assert (scopes[0]["path"], scopes[0]["raw_path"], scopes[0]["root_path"]) == (
        "/api/ws",
        b"/api/ws",
        "/api",
    )


async def test_ws_max_size_bounds_a_message_and_its_fragments() -> None:
    seen.clear()
    async with Driver(from_asgi(echo, ws_max_size=10), server_info=UPGRADING) as driver:
        response = await driver.app(driver.build("GET", "/ws", headers=HANDSHAKE))
    assert response.upgrade is not None
    pipe = Pipe()
    endpoint = asyncio.ensure_future(response.upgrade(pipe))
    pipe.send_frame(0x1, b"0123456789")  # exactly the limit: delivered
    assert await pipe.frame() == (0x1, b"0123456789")
    pipe.send_frame(0x1, b"012345", fin=False)
    pipe.send_frame(0x0, b"6789a")  # 11 bytes in all: 1009 (message too big)
    opcode, payload = await pipe.frame()
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1009))
    pipe.hang_up()
    await endpoint
    assert seen[-1]["code"] == 1009
    with pytest.raises(ValueError, match="ws_max_size"):
        from_asgi(echo, ws_max_size=0)
