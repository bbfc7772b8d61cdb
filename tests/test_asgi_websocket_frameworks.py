"""Quart, Starlette and FastAPI WebSocket apps on pyre-server and on uvicorn, with the ``websockets`` client.

The same conversation with each app on each server: pyre-server serves the app
through ``from_asgi`` (detected by ``--interface auto``), uvicorn is the reference.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from asgi_apps.servers import Running, serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

APPS = {
    "quart": "asgi_apps.quart_app:app",
    "starlette": "asgi_apps.websocket_app:app",
    "fastapi": "asgi_apps.fastapi_app:app",
}
# What each app answers to "hello" on its echo endpoint.
ECHO = {"quart": ("/ws", "quart: hello"), "starlette": ("/ws", "HELLO"), "fastapi": ("/ws", "fastapi: hello")}
SERVERS = ["uvicorn", "pyre"]


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], Running]]:
    logs: pathlib.Path = tmp_path_factory.mktemp("logs")
    running: dict[tuple[str, str], Running] = {}
    with ExitStack() as stack:

        def get(server: str, app: str) -> Running:
            if (server, app) not in running:
                running[server, app] = stack.enter_context(serve(server, APPS[app], logs))
            return running[server, app]

        yield get


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("app", list(APPS))
def test_echo_conversation(started: Callable[[str, str], Running], app: str, server: str) -> None:
    running = started(server, app)
    path, answer = ECHO[app]
    with connect(f"ws://127.0.0.1:{running.port}{path}", open_timeout=30, close_timeout=10) as websocket:
        for _ in range(3):
            websocket.send("hello")
            assert websocket.recv(timeout=30) == answer
    assert "ASGIProtocolError" not in running.output()


@pytest.mark.parametrize("server", SERVERS)
def test_quart_explicit_accept_then_the_handler_returns(
    started: Callable[[str, str], Running], server: str
) -> None:
    running = started(server, "quart")
    with connect(f"ws://127.0.0.1:{running.port}/greet?name=pyre", open_timeout=30) as websocket:
        assert websocket.recv(timeout=30) == "hello pyre"
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000


@pytest.mark.parametrize("server", SERVERS)
def test_starlette_close_with_code_and_reason(started: Callable[[str, str], Running], server: str) -> None:
    running = started(server, "starlette")
    with connect(f"ws://127.0.0.1:{running.port}/goodbye?name=pyre", open_timeout=30) as websocket:
        assert websocket.recv(timeout=30) == "bye pyre"
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "done")
