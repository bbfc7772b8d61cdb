"""The benchmark routes as a BlackSheep application."""

from __future__ import annotations

import asyncio
from typing import Any

from blacksheep import Application, Content, FromJSON, FromQuery, Request, Response, json, text

from . import payloads

app = Application()
get = app.router.get
post = app.router.post


@get("/plaintext")
async def plaintext() -> Response:
    return text("Hello, world!")


@get("/json")
async def json_message() -> Response:
    return json(payloads.MESSAGE)


@get("/hello/{name}")
async def hello(name: str) -> Response:
    return text(payloads.hello(name))


@get("/users/{int:user_id}")
async def user(user_id: int) -> Response:
    return json(payloads.user(user_id))


@post("/echo")
async def echo(n: FromQuery[int], document: FromJSON[dict[str, Any]]) -> Response:
    return json(payloads.echo(n.value, document.value))


@get("/large")
async def large() -> Response:
    return Response(200, content=Content(b"application/octet-stream", payloads.LARGE))


@post("/upload")
async def upload(request: Request) -> Response:
    return text(str(len(await request.read() or b"")))


@get("/sleep")
async def sleep() -> Response:
    await asyncio.sleep(payloads.SLEEP_SECONDS)
    return text("Hello, world!")
