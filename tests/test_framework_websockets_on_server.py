"""pyre-framework WebSocket endpoints driven by the ``websockets`` client library over real loopback
sockets: on pyre-server (wsproto over pyre-spec's raw upgrade) and on uvicorn through
``pyre.asgi.to_asgi`` (the ``pyre.websocket`` session extension: uvicorn does the framing)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from asgi_apps.in_process import SERVERS
from websockets.exceptions import ConnectionClosed

from pyre import framework
from pyre.framework import App, HTTPException, WebSocket, WebSocketDisconnect

HANG_GUARD = 20.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""

pytestmark = pytest.mark.timeout(60)


class Sockets(framework.Blueprint):
    def __init__(self) -> None:
        self.disconnects: asyncio.Queue[int] = asyncio.Queue()

    @framework.websocket("/echo")
    async def echo(self, ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message.upper())

    @framework.websocket("/json")
    async def json(self, ws: WebSocket) -> None:
        await ws.accept()
        async for item in ws.iter_json():
            await ws.send_json({"got": item, "query": ws.query.get("tag")})

    @framework.websocket("/bytes/{times:int}")
    async def binary(self, ws: WebSocket, times: int) -> None:
        await ws.accept()
        data = await ws.receive_bytes()
        await ws.send_bytes(data * times)
        await ws.close(4001, "done")

    @framework.websocket("/protocol")
    async def protocol(self, ws: WebSocket) -> None:
        chosen = next((name for name in ws.subprotocols if name.startswith("chat")), None)
        await ws.accept(subprotocol=chosen, headers=[("x-room", "lobby")])
        await ws.send_text(f"{ws.subprotocols}")

    @framework.websocket("/small")
    async def small(self, ws: WebSocket) -> None:
        ws.max_message = 16
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as disconnect:
            await self.disconnects.put(disconnect.code)

    @framework.websocket("/wait")
    async def wait(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("ready")
        try:
            while True:
                await ws.receive()
        except WebSocketDisconnect as disconnect:
            await self.disconnects.put(disconnect.code)

    @framework.websocket("/refuse")
    async def refuse(self, ws: WebSocket) -> None:
        await ws.close()

    @framework.websocket("/forbidden")
    async def forbidden(self, ws: WebSocket) -> None:
        raise HTTPException(401)

    @framework.websocket("/boom")
    async def boom(self, ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("the handler failed")

    @framework.websocket("/state")
    async def state(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(f"{ws.app.state.greeting} {ws.cookies.get('who')} {ws.headers.get('x-test')}")


def handshake(client: websockets.ClientConnection) -> websockets.Headers:
    assert client.response is not None
    return client.response.headers


@contextlib.asynccontextmanager
async def serving(kind: str = "pyre-server") -> AsyncIterator[tuple[str, Sockets]]:
    blueprint = Sockets()
    app = App()
    app.state.greeting = "hello"
    app.add_blueprint(blueprint)
    async with SERVERS[kind](app) as port:
        yield f"127.0.0.1:{port}", blueprint


@pytest.fixture(params=["pyre-server", "uvicorn"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_echo_text(kind: str) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}/echo") as client:
        for word in ("hi", "über", ""):
            await client.send(word)
            assert await asyncio.wait_for(client.recv(), HANG_GUARD) == word.upper()
        await client.close()
        assert client.close_code == 1000


async def test_json_and_query(kind: str) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}/json?tag=t1") as client:
        await client.send('{"a": [1, 2]}')
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == '{"got":{"a":[1,2]},"query":"t1"}'


@pytest.mark.parametrize(
    ("path", "message", "code"),
    [("/json", "{not json", 1007), ("/bytes/1", "text where bytes are expected", 1003)],
)
async def test_unacceptable_message_closes_with_its_code(
    path: str, message: str, code: int, kind: str
) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}{path}") as client:
        await client.send(message)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert client.close_code == code


async def test_binary_path_parameter_and_close_code(kind: str) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}/bytes/3") as client:
        await client.send(b"\x00\xff")
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == b"\x00\xff" * 3
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert (client.close_code, client.close_reason) == (4001, "done")


async def test_subprotocol_chosen_from_the_offer_and_headers(kind: str) -> None:
    async with (
        serving(kind) as (address, _),
        websockets.connect(f"ws://{address}/protocol", subprotocols=["v2", "chat.v1"]) as client,  # type: ignore[list-item]
    ):
        assert client.subprotocol == "chat.v1"
        assert handshake(client)["x-room"] == "lobby"
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "['v2', 'chat.v1']"


async def test_too_big_message_closes_1009(kind: str) -> None:
    async with serving(kind) as (address, blueprint), websockets.connect(f"ws://{address}/small") as client:
        await client.send("x" * 17)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert client.close_code == 1009
        assert await asyncio.wait_for(blueprint.disconnects.get(), HANG_GUARD) == 1009


async def test_fragmented_message_over_the_limit_closes_1009(kind: str) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}/small") as client:
        await client.send(iter(["x" * 10, "x" * 10]))  # two frames, 20 bytes in all
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert client.close_code == 1009


async def test_ping_answered_while_receiving() -> None:
    async with serving() as (address, _), websockets.connect(f"ws://{address}/wait") as client:
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "ready"
        pong = await client.ping(b"are you there")
        assert await asyncio.wait_for(pong, HANG_GUARD) is not None


async def test_client_close_is_websocket_disconnect_in_the_handler(kind: str) -> None:
    async with serving(kind) as (address, blueprint):
        async with websockets.connect(f"ws://{address}/wait") as client:
            assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "ready"
            await client.close(4321, "bye")
        assert await asyncio.wait_for(blueprint.disconnects.get(), HANG_GUARD) == 4321


async def test_client_vanishing_is_1006_in_the_handler(kind: str) -> None:
    async with serving(kind) as (address, blueprint):
        async with websockets.connect(f"ws://{address}/wait") as client:
            assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "ready"
            client.transport.abort()
        expected = 1006 if kind == "pyre-server" else 1005  # what uvicorn reports for a lost connection
        assert await asyncio.wait_for(blueprint.disconnects.get(), HANG_GUARD) == expected


async def test_permessage_deflate_negotiated_and_used() -> None:
    async with serving() as (address, _), websockets.connect(f"ws://{address}/echo") as client:
        assert "permessage-deflate" in handshake(client)["sec-websocket-extensions"]
        await client.send("compressible " * 1000)
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "COMPRESSIBLE " * 1000


async def test_a_compressed_bomb_closes_1009() -> None:
    # 32 MiB of one letter is ~32 KiB deflated: refused at the 1 MiB limit while it is inflated.
    async with serving() as (address, _), websockets.connect(f"ws://{address}/echo") as client:
        await client.send("a" * (32 << 20))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert client.close_code == 1009


async def test_without_compression_offer_none_is_agreed() -> None:
    async with (
        serving() as (address, _),
        websockets.connect(f"ws://{address}/echo", compression=None) as client,
    ):
        assert "sec-websocket-extensions" not in handshake(client)
        await client.send("plain")
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "PLAIN"


async def test_app_state_cookies_and_headers(kind: str) -> None:
    async with (
        serving(kind) as (address, _),
        websockets.connect(
            f"ws://{address}/state", additional_headers={"cookie": "who=ada", "x-test": "yes"}
        ) as client,
    ):
        assert await asyncio.wait_for(client.recv(), HANG_GUARD) == "hello ada yes"


async def test_handler_error_after_accept_closes_1011(kind: str) -> None:
    async with serving(kind) as (address, _), websockets.connect(f"ws://{address}/boom") as client:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), HANG_GUARD)
        assert client.close_code == 1011


async def test_closed_before_accept_is_403(kind: str) -> None:
    async with serving(kind) as (address, _):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://{address}/refuse")
        assert refused.value.response.status_code == 403


@pytest.mark.parametrize(("path", "status"), [("/refuse", 403), ("/forbidden", 401)])
async def test_refused_before_accept_is_an_http_answer(path: str, status: int) -> None:
    """On pyre-server; through ASGI every refusal is uvicorn's 403 (no websocket.http.response)."""
    async with serving() as (address, _):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://{address}{path}")
        assert refused.value.response.status_code == status


async def test_plain_http_request_to_a_websocket_route_is_426(kind: str) -> None:
    async with serving(kind) as (address, _), httpx.AsyncClient(timeout=HANG_GUARD) as client:
        response = await client.get(f"http://{address}/echo")
        assert response.status_code == 426
        assert response.headers["upgrade"] == "websocket"
        assert (await client.post(f"http://{address}/echo")).status_code == 405


def _handshake(address: str, extra: bytes) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=HANG_GUARD) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + extra
            + b"\r\n"
        )
        return sock.recv(4096)


def _after_handshake(address: str, frame: bytes) -> bytes:
    """Open /echo by hand, send ``frame``, and return what the server writes until it closes."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=HANG_GUARD) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101")
        sock.sendall(frame)
        received = answer.partition(b"\r\n\r\n")[2]
        while chunk := sock.recv(4096):
            received += chunk
        return received


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x81\x02hi", 1002),  # a client frame must be masked
        (b"\x81\x82\x00\x00\x00\x00\xff\xfe", 1007),  # text that is not UTF-8
        (b"\x89\xfe\x00\x7e\x00\x00\x00\x00" + b"x" * 126, 1002),  # a ping over 125 bytes
    ],
)
async def test_protocol_violation_fails_the_connection_with_its_code(frame: bytes, code: int) -> None:
    async with serving() as (address, _):
        received = await asyncio.to_thread(_after_handshake, address, frame)
        assert received[:1] == b"\x88"  # a Close frame, unmasked
        assert int.from_bytes(received[2:4], "big") == code


@pytest.mark.parametrize(
    ("extra", "status_line", "header"),
    [
        (b"sec-websocket-version: 13\r\n", b"HTTP/1.1 400", b""),  # no key
        (b"sec-websocket-key: c2hvcnQ=\r\nsec-websocket-version: 13\r\n", b"HTTP/1.1 400", b""),
        (
            b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 8\r\n",
            b"HTTP/1.1 426",
            b"sec-websocket-version: 13",
        ),
    ],
)
async def test_malformed_handshakes(extra: bytes, status_line: bytes, header: bytes) -> None:
    async with serving() as (address, _):
        answer: Any = await asyncio.to_thread(_handshake, address, extra)
        assert answer.startswith(status_line)
        assert header in answer.lower()
