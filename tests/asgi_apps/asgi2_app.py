"""An ASGI 2 application: a class instantiated with the scope, the instance awaited with receive and send."""

from __future__ import annotations

from typing import Any


class App:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        if self.scope["type"] != "http":
            raise RuntimeError("this app only speaks HTTP")
        body = f"ASGI 2 app at {self.scope['path']}".encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]}
        )
        await send({"type": "http.response.body", "body": body})
