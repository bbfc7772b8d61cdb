"""A Starlette application with WebSocket endpoints."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="echo" if "echo" in websocket.scope["subprotocols"] else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"].upper())
            else:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        return


async def goodbye(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(f"bye {websocket.query_params.get('name', 'you')}")
    await websocket.close(code=4001, reason="done")


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


app = Starlette(
    routes=[
        WebSocketRoute("/ws", echo),
        WebSocketRoute("/goodbye", goodbye),
        WebSocketRoute("/refuse", refuse),
    ]
)
