"""The benchmark routes as a FastAPI application."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from . import payloads

app = FastAPI()


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, world!"


@app.get("/json")
async def json_message() -> dict[str, str]:
    return payloads.MESSAGE


@app.get("/hello/{name}", response_class=PlainTextResponse)
async def hello(name: str) -> str:
    return payloads.hello(name)


@app.get("/users/{user_id}")
async def user(user_id: int) -> dict[str, Any]:
    return payloads.user(user_id)


@app.post("/echo")
async def echo(n: int, document: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return payloads.echo(n, document)


@app.get("/large")
async def large() -> Response:
    return Response(payloads.LARGE, media_type="application/octet-stream")


@app.post("/upload", response_class=PlainTextResponse)
async def upload(request: Request) -> str:
    return str(len(await request.body()))


@app.get("/sleep", response_class=PlainTextResponse)
async def sleep() -> str:
    await asyncio.sleep(payloads.SLEEP_SECONDS)
    return "Hello, world!"
