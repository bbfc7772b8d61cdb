"""The benchmark routes as a Litestar application."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, MediaType, Request, get, post

from . import payloads


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> bytes:
    return payloads.HELLO


@get("/json")
async def json_message() -> dict[str, str]:
    return payloads.MESSAGE


@get("/hello/{name:str}", media_type=MediaType.TEXT)
async def hello(name: str) -> str:
    return payloads.hello(name)


@get("/users/{user_id:int}")
async def user(user_id: int) -> dict[str, Any]:
    return payloads.user(user_id)


@post("/echo", status_code=200)
async def echo(n: int, data: dict[str, Any]) -> dict[str, Any]:
    return payloads.echo(n, data)


@get("/large", media_type="application/octet-stream")
async def large() -> bytes:
    return payloads.LARGE


@post("/upload", status_code=200, media_type=MediaType.TEXT)
async def upload(request: Request[Any, Any, Any]) -> str:
    return str(len(await request.body()))


@get("/sleep", media_type=MediaType.TEXT)
async def sleep() -> bytes:
    await asyncio.sleep(payloads.SLEEP_SECONDS)
    return payloads.HELLO


app = Litestar([plaintext, json_message, hello, user, echo, large, upload, sleep])
