"""WebSocket endpoints through the test client (wsproto framing on both ends, in memory)."""

from __future__ import annotations

from typing import Any

import pytest

from pyre import framework
from pyre.framework import App, Depends, HTTPException, WebSocket, WebSocketDisconnect
from pyre.framework.exceptions import FrameworkError, RouteError
from pyre.framework.testing import AsyncTestClient, TestClient, WebSocketRefused

pytestmark = pytest.mark.timeout(30)


class Sockets(framework.Blueprint):
    prefix = "/ws"

    def __init__(self) -> None:
        self.seen: list[object] = []

    @framework.websocket("/echo")
    async def echo(self, ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message.upper())

    @framework.websocket("/items/{id:int}")
    async def item(self, ws: WebSocket, id: int, verbose: bool = False) -> None:
        await ws.accept()
        await ws.send_json({"id": id, "verbose": verbose, "state": ws.app.state.name})
        async for item in ws.iter_json():
            await ws.send_json(item)

    @framework.websocket("/bytes")
    async def binary(self, ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws.iter_bytes():
            await ws.send_bytes(data[::-1])

    @framework.websocket("/protocol")
    async def protocol(self, ws: WebSocket) -> None:
        await ws.accept(subprotocol=ws.subprotocols[-1] if ws.subprotocols else None)
        await ws.close(4000, "bye")

    @framework.websocket("/record")
    async def record(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive()
        except WebSocketDisconnect as disconnect:
            self.seen.append((disconnect.code, disconnect.reason))
            with pytest.raises(WebSocketDisconnect):
                await ws.send_text("too late")

    @framework.websocket("/iterate")
    async def iterate(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            async for _ in ws.iter_text():
                pass
            self.seen.append("ended")
        except WebSocketDisconnect as disconnect:
            self.seen.append(disconnect.code)

    @framework.websocket("/refuse")
    async def refuse(self, ws: WebSocket) -> None:
        await ws.close()

    @framework.websocket("/private")
    async def private(self, ws: WebSocket) -> None:
        raise HTTPException(401)

    @framework.websocket("/wrong-protocol")
    async def wrong_protocol(self, ws: WebSocket) -> None:
        try:
            await ws.accept(subprotocol="never-offered")
        except FrameworkError as error:
            self.seen.append(str(error))
        await ws.close()

    @framework.websocket("/boom")
    async def boom(self, ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("handler failed")


def make_app() -> tuple[App[Any], Sockets]:
    app = App()
    app.state.name = "demo"
    blueprint = Sockets()
    app.add_blueprint(blueprint)
    return app, blueprint


def test_echo_text_and_normal_close() -> None:
    app, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "HI"
        ws.send_text("again")
        assert ws.receive_text() == "AGAIN"


def test_path_and_query_parameters_json_and_state() -> None:
    app, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/items/7?verbose=true") as ws:
        assert ws.receive_json() == {"id": 7, "verbose": True, "state": "demo"}
        ws.send_json([1, {"a": None}])
        assert ws.receive_json() == [1, {"a": None}]


def test_binary_messages() -> None:
    app, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/bytes") as ws:
        ws.send_bytes(b"\x01\x02\x03")
        assert ws.receive_bytes() == b"\x03\x02\x01"


def test_subprotocol_and_close_code_from_the_handler() -> None:
    app, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/protocol", subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol == "b"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert (closed.value.code, closed.value.reason) == (4000, "bye")


def test_subprotocol_not_offered_is_refused_by_accept() -> None:
    app, blueprint = make_app()
    with TestClient(app) as client, pytest.raises(WebSocketRefused) as refused:
        client.websocket_connect("/ws/wrong-protocol", subprotocols=["a"]).__enter__()
    assert refused.value.response.status_code == 403
    assert blueprint.seen == ["the client did not offer the subprotocol 'never-offered'"]


def test_client_close_reaches_the_handler_as_websocket_disconnect() -> None:
    app, blueprint = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/record") as ws:
        ws.close(4100, "leaving")
    assert blueprint.seen == [(4100, "leaving")]


@pytest.mark.parametrize(("code", "seen"), [(1000, "ended"), (1001, "ended"), (4100, 4100), (1011, 1011)])
def test_iteration_ends_on_a_normal_close_and_raises_on_others(code: int, seen: object) -> None:
    app, blueprint = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws/iterate") as ws:
        ws.send_text("one")
        ws.close(code)
    assert blueprint.seen == [seen]


@pytest.mark.parametrize(("path", "status"), [("/ws/refuse", 403), ("/ws/private", 401)])
def test_refusals_before_accept_are_http_answers(path: str, status: int) -> None:
    app, _ = make_app()
    with TestClient(app) as client, pytest.raises(WebSocketRefused) as refused:
        client.websocket_connect(path).__enter__()
    assert refused.value.response.status_code == status


def test_handler_error_closes_1011_and_reaches_the_test() -> None:
    app, _ = make_app()
    codes: list[int] = []

    def talk(client: TestClient) -> None:
        with client.websocket_connect("/ws/boom") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive()
            codes.append(closed.value.code)

    with TestClient(app) as client, pytest.raises(RuntimeError, match="handler failed"):
        talk(client)
    assert codes == [1011]


def test_plain_request_to_a_websocket_route_is_426_with_upgrade() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        response = client.get("/ws/echo")
        assert response.status_code == 426
        assert response.headers["upgrade"] == "websocket"


def test_server_without_upgrade_is_501() -> None:
    app, _ = make_app()
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
    }
    with TestClient(app) as client:  # plain requests go to a server_info without pyre.upgrade
        assert client.get("/ws/echo", headers=headers).status_code == 501


async def test_async_client_and_message_size_limit() -> None:
    app, _ = make_app()
    async with AsyncTestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        await ws.send_text("x" * (1 << 20))
        assert await ws.receive_text() == "X" * (1 << 20)
        await ws.send_text("x" * ((1 << 20) + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
        assert closed.value.code == 1009


def test_a_sync_websocket_handler_is_refused_at_registration() -> None:
    class Sync(framework.Blueprint):
        @framework.websocket("/sync")
        def sync(self, ws: WebSocket) -> None: ...

    app = App()
    with pytest.raises(RouteError, match="coroutine function"):
        app.add_blueprint(Sync())
    assert app.router.registrations == []


def test_dependencies_in_a_websocket_handler_are_refused_at_registration() -> None:
    def provider() -> int:
        return 1

    class WithDepends(framework.Blueprint):
        @framework.websocket("/depends")
        async def handler(self, ws: WebSocket, value: int = Depends(provider)) -> None: ...

    app = App()
    with pytest.raises(RouteError, match="no Depends"):
        app.add_blueprint(WithDepends())
