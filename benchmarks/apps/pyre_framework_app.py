"""The benchmark routes as a pyre-framework application, in the seed's style."""

from __future__ import annotations

import asyncio
from typing import Any

from pyre import framework
from pyre.framework import App, Request

from . import payloads


class Bench(framework.Blueprint):
    @framework.endpoint("/plaintext", methods=["GET"])
    async def plaintext(self) -> str:
        return "Hello, world!"

    @framework.endpoint("/json", methods=["GET"])
    async def json_message(self) -> dict[str, str]:
        return payloads.MESSAGE

    @framework.endpoint("/hello/{name:string}", methods=["GET"])
    async def hello(self, name: str) -> str:
        return payloads.hello(name)

    @framework.endpoint("/users/{user_id:int}", methods=["GET"])
    async def user(self, user_id: int) -> dict[str, Any]:
        return payloads.user(user_id)

    @framework.endpoint("/echo", methods=["POST"])
    async def echo(self, request: Request, n: int) -> dict[str, Any]:
        return payloads.echo(n, await request.body.json())

    @framework.endpoint("/large", methods=["GET"])
    async def large(self) -> bytes:
        return payloads.LARGE

    @framework.endpoint("/upload", methods=["POST"])
    async def upload(self, request: Request) -> str:
        return str(len(await request.body.bytes()))

    @framework.endpoint("/sleep", methods=["GET"])
    async def sleep(self) -> str:
        await asyncio.sleep(payloads.SLEEP_SECONDS)
        return "Hello, world!"


app = App()
app.add_blueprint(Bench())
