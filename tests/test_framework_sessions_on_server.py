"""Sessions, templates and precompressed static files of pyre-framework, over pyre-server and loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

import pyre.spec
from pyre import framework
from pyre.framework import App, Request
from pyre.framework.middleware import SessionMiddleware
from pyre.server import Config, Server

HANG_GUARD = 30.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""


@contextlib.asynccontextmanager
async def serving(app: pyre.spec.Application) -> AsyncIterator[httpx.AsyncClient]:
    config = Config(host="127.0.0.1", port=0, access_log=False)
    async with Server(app, config) as server, httpx.AsyncClient(timeout=HANG_GUARD) as client:
        client.base_url = httpx.URL(f"http://127.0.0.1:{server.port}")
        yield client


class Login(framework.Blueprint):
    @framework.endpoint("/login/{name}", methods=["POST"])
    async def login(self, request: Request, name: str) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @framework.endpoint("/me")
    async def me(self, request: Request) -> dict[str, Any]:
        return {"user": request.session.get("user")}

    @framework.endpoint("/logout", methods=["POST"])
    async def logout(self, request: Request) -> str:
        request.session.clear()
        return "bye"


def session_app(secret_key: Any) -> App[Any]:
    app = App()
    app.add_middleware(SessionMiddleware(secret_key))
    app.add_blueprint(Login())
    return app


async def test_a_session_cookie_over_a_real_server_with_httpx() -> None:
    async with serving(session_app("k1")) as client:
        assert (await client.get("/me")).json() == {"user": None}
        login = await client.post("/login/ada")
        assert login.status_code == 200
        assert "HttpOnly" in login.headers["set-cookie"]
        assert (await client.get("/me")).json() == {"user": "ada"}  # httpx sent the cookie back
        cookie = client.cookies["session"]
        await client.post("/logout")
        assert "session" not in client.cookies
        assert (await client.get("/me")).json() == {"user": None}
    # The same cookie on a server whose keys were rotated: still accepted while "k1" is listed.
    async with serving(session_app(["k2", "k1"])) as client:
        client.cookies["session"] = cookie
        assert (await client.get("/me")).json() == {"user": "ada"}
    async with serving(session_app("k2")) as client:
        client.cookies["session"] = cookie
        response = await client.get("/me")
        assert (response.status_code, response.json()) == (200, {"user": None})


async def test_a_tampered_session_cookie_over_a_real_server_is_an_empty_session() -> None:
    async with serving(session_app("k1")) as client:
        await client.post("/login/ada")
        payload, stamp, signature = client.cookies["session"].split(".")
        client.cookies.clear()
        client.cookies["session"] = f"{payload}x.{stamp}.{signature}"
        response = await client.get("/me")
        assert (response.status_code, response.json()) == (200, {"user": None})
        client.cookies["session"] = "%" * 5000  # larger than any cookie of ours
        response = await client.get("/me")
        assert (response.status_code, response.json()) == (200, {"user": None})
