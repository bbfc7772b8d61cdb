"""Sessions, templates and precompressed static files of pyre-framework, over pyre-server and loopback."""

from __future__ import annotations

import contextlib
import gzip
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

import pyre.spec
from pyre import framework
from pyre.framework import App, Request
from pyre.framework.middleware import SessionMiddleware
from pyre.framework.staticfiles import StaticFiles
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


async def test_precompressed_static_files_and_404_html_over_sendfile(tmp_path: pathlib.Path) -> None:
    css = b"body { color: red }\n" * 50
    (tmp_path / "app.css").write_bytes(css)
    (tmp_path / "app.css.gz").write_bytes(gzip.compress(css, mtime=0))
    (tmp_path / "404.html").write_text("<p>lost</p>")
    async with serving(StaticFiles(tmp_path, html=True)) as client:
        plain = await client.get("/app.css", headers={"accept-encoding": "identity"})
        assert (plain.status_code, plain.content) == (200, css)
        assert plain.headers["vary"] == "accept-encoding"
        encoded = await client.get("/app.css", headers={"accept-encoding": "gzip"})
        assert encoded.headers["content-encoding"] == "gzip"
        assert encoded.content == css  # httpx decoded the gzip sibling's bytes
        assert encoded.headers["etag"] != plain.headers["etag"]
        ranged = {"accept-encoding": "gzip", "range": "bytes=0-1"}
        async with client.stream("GET", "/app.css", headers=ranged) as partial:
            assert partial.status_code == 206
            assert b"".join([chunk async for chunk in partial.aiter_raw()]) == b"\x1f\x8b"
        for target in ["/missing.css", "/%2e%2e/x", "/a%2Fb", "/a%5Cb"]:  # httpx drops a raw "../"
            missing = await client.get(target)
            assert (missing.status_code, missing.text) == (404, "<p>lost</p>"), target
