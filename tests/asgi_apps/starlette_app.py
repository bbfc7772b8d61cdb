"""A Starlette application: routing, streaming, files, background tasks, lifespan, middleware.

``BaseHTTPMiddleware`` runs every request in an anyio task group that spans the
streamed response, so the app only works if it stays in one task throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = pathlib.Path(__file__).parent / "static" / "hello.txt"
background_log: list[str] = []


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"database": "connected"}


async def home(request: Request) -> Response:
    return PlainTextResponse("Starlette home")


async def user(request: Request) -> Response:
    return JSONResponse(
        {
            "id": request.path_params["user_id"],
            "database": request.state.database,
            "query": dict(request.query_params),
        }
    )


async def numbers() -> AsyncIterator[str]:
    for index in range(5):
        await asyncio.sleep(0.001)
        yield f"number {index}\n"


async def stream(request: Request) -> Response:
    return StreamingResponse(numbers(), media_type="text/plain")


async def file(request: Request) -> Response:
    return FileResponse(STATIC)


async def remember(entry: str) -> None:
    await asyncio.sleep(0.001)
    background_log.append(entry)


async def background(request: Request) -> Response:
    entry = request.query_params.get("entry", "none")
    return PlainTextResponse("queued", background=BackgroundTask(remember, entry))


async def stream_then_background(request: Request) -> Response:
    entry = request.query_params.get("entry", "none")
    return StreamingResponse(numbers(), media_type="text/plain", background=BackgroundTask(remember, entry))


async def background_done(request: Request) -> Response:
    return JSONResponse(background_log)


async def patience(request: Request) -> Response:
    with anyio.move_on_after(0.001) as scope:
        await anyio.sleep(3600)
    return PlainTextResponse(f"cancelled={scope.cancelled_caught}")


async def tag(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers["x-middleware"] = "seen"
    return response


async def crash(request: Request) -> Response:
    raise RuntimeError("a bug in the endpoint")


async def error_page(request: Request, error: Exception) -> Response:
    # Run by ServerErrorMiddleware, which sends this page and then re-raises the error.
    return PlainTextResponse(f"our error page: {error}", status_code=500)


async def memory(request: Request) -> Response:
    return Response(content=memoryview(b"content from a memoryview"), media_type="text/plain")


async def where(request: Request) -> Response:
    scope = request.scope
    return JSONResponse(
        {
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "root_path": scope["root_path"],
            "url": str(request.url),
            "url_for": str(request.url_for("where")),
        }
    )


async def echo(request: Request) -> Response:
    body = await request.body()
    form_type = request.headers.get("content-type", "")
    return JSONResponse(
        {"length": len(body), "content_type": form_type, "text": body.decode(errors="replace")}
    )


app = Starlette(
    routes=[
        Route("/", home),
        Route("/users/{user_id:int}", user),
        Route("/stream", stream),
        Route("/file", file),
        Route("/background", background),
        Route("/background/log", background_done),
        Route("/stream/background", stream_then_background),
        Route("/crash", crash),
        Route("/memoryview", memory),
        Route("/where", where, name="where"),
        Mount("/static", app=StaticFiles(directory=STATIC.parent), name="static"),
        Route("/echo", echo, methods=["POST"]),
        Route("/patience", patience),
    ],
    middleware=[Middleware(BaseHTTPMiddleware, dispatch=tag)],
    exception_handlers={500: error_page},
    lifespan=lifespan,
)
