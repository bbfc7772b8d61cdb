"""The benchmark routes as a Falcon ASGI application."""

from __future__ import annotations

import asyncio

import falcon
import falcon.asgi

from . import payloads


class Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.data = payloads.HELLO


class JsonMessage:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = payloads.MESSAGE


class Hello:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = payloads.hello(name)


class User:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int) -> None:
        resp.media = payloads.user(user_id)


class Echo:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        n = req.get_param_as_int("n", required=True)
        resp.media = payloads.echo(n, await req.get_media())


class Large:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = "application/octet-stream"
        resp.data = payloads.LARGE


class Upload:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = str(len(await req.stream.read()))


class Sleep:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        await asyncio.sleep(payloads.SLEEP_SECONDS)
        resp.content_type = falcon.MEDIA_TEXT
        resp.data = payloads.HELLO


app = falcon.asgi.App()
app.add_route("/plaintext", Plaintext())
app.add_route("/json", JsonMessage())
app.add_route("/hello/{name}", Hello())
app.add_route("/users/{user_id:int}", User())
app.add_route("/echo", Echo())
app.add_route("/large", Large())
app.add_route("/upload", Upload())
app.add_route("/sleep", Sleep())
