"""A Quart application with a WebSocket endpoint.

Quart reads a WebSocket in a task of its own, which calls ``receive()`` again
before the handler has accepted the connection: the ASGI spec allows that
(``receive`` waits for the next event), and pyre-asgi must serve it.
"""

from __future__ import annotations

from quart import Quart, websocket

app = Quart(__name__)


@app.route("/")
async def index() -> str:
    return "Quart home"


@app.websocket("/ws")
async def echo() -> None:
    while True:
        text = await websocket.receive()
        await websocket.send(f"quart: {text}")


@app.websocket("/greet")
async def greet() -> None:
    await websocket.accept()
    await websocket.send(f"hello {websocket.args.get('name', 'you')}")
