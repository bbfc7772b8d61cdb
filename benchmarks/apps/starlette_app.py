"""The benchmark routes as a Starlette application."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import payloads


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(payloads.HELLO)


async def json_message(request: Request) -> Response:
    return JSONResponse(payloads.MESSAGE)


async def hello(request: Request) -> Response:
    return PlainTextResponse(payloads.hello(request.path_params["name"]))


async def user(request: Request) -> Response:
    return JSONResponse(payloads.user(request.path_params["user_id"]))


async def echo(request: Request) -> Response:
    n = int(request.query_params["n"])
    return JSONResponse(payloads.echo(n, await request.json()))


async def large(request: Request) -> Response:
    return Response(payloads.LARGE, media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def sleep(request: Request) -> Response:
    await asyncio.sleep(payloads.SLEEP_SECONDS)
    return PlainTextResponse(payloads.HELLO)


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json_message),
        Route("/hello/{name}", hello),
        Route("/users/{user_id:int}", user),
        Route("/echo", echo, methods=["POST"]),
        Route("/large", large),
        Route("/upload", upload, methods=["POST"]),
        Route("/sleep", sleep),
    ]
)
