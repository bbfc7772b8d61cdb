"""app.mount over real sockets: pyre-server, and uvicorn through ``to_asgi``.

One app mounts a sub-App (with its own lifespan, OpenAPI document and docs
page), a ``StaticFiles`` directory and a Starlette app through ``from_asgi``.
The traversal attempts go out as raw request lines, so no client normalises
``..`` or an escape before the server sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_apps import starlette_app
from asgi_apps.in_process import SERVERS

from pyre import framework
from pyre.asgi import from_asgi
from pyre.framework import App, Request
from pyre.framework.staticfiles import StaticFiles

HANG_GUARD = 30.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""


class Users(framework.Blueprint):
    prefix = "/users"

    @framework.endpoint("/{id:int}")
    async def get(self, request: Request, id: int) -> dict[str, Any]:
        return {"id": id, "url": str(request.url), "started": request.app.state.started}


@pytest.fixture
def public(tmp_path: pathlib.Path) -> pathlib.Path:
    public = tmp_path / "public"
    public.mkdir()
    (public / "hello.txt").write_text("hello, world")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("key")
    (public / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (public / "dir-out").symlink_to(tmp_path / "private")
    return public


@pytest.fixture
def app(public: pathlib.Path) -> App[Any]:
    api = App(openapi_url="/openapi.json", docs_url="/docs")
    api.add_blueprint(Users())

    @api.on_startup
    def started() -> None:
        api.state.started = True

    parent = App()
    parent.mount("/api", api, name="api")
    parent.mount("/static", StaticFiles(directory=public), name="static")
    parent.mount("/legacy", from_asgi(starlette_app.app), name="legacy")
    return parent


@contextlib.asynccontextmanager
async def served(server: str, app: App[Any]) -> AsyncIterator[tuple[int, httpx.AsyncClient]]:
    async with (
        SERVERS[server](app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG_GUARD) as client,
    ):
        yield port, client


async def status_of_raw_target(port: int, target: str) -> tuple[int, bytes]:
    """The status and body of ``GET target`` sent exactly as written."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(HANG_GUARD):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2Fsecret.txt",
    "/static%2F..%2Fsecret.txt",
    "/static/..%5Csecret.txt",
    "/static/%5C..%5Csecret.txt",
    "/static/link-out.txt",
    "/static/dir-out/key.txt",
    "/staticx/hello.txt",
]


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_static_files_through_the_mount(server: str, app: App[Any]) -> None:
    async with served(server, app) as (port, client):
        answer = await client.get("/static/hello.txt")
        assert (answer.status_code, answer.text) == (200, "hello, world")
        assert answer.headers["etag"]
        part = await client.get("/static/hello.txt", headers={"range": "bytes=7-11"})
        assert (part.status_code, part.text) == (206, "world")
        for target in TRAVERSALS:
            status, body = await status_of_raw_target(port, target)
            assert status == 404, target
            assert b"secret" not in body
            assert b"key" not in body


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_a_sub_app_with_its_lifespan_document_and_docs_page(server: str, app: App[Any]) -> None:
    async with served(server, app) as (port, client):
        answer = await client.get("/api/users/7?x=1")
        assert answer.json() == {"id": 7, "url": f"http://127.0.0.1:{port}/api/users/7?x=1", "started": True}
        assert (await client.get("/api/users/x")).status_code == 404
        document = (await client.get("/api/openapi.json")).json()
        assert list(document["paths"]) == ["/users/{id}"]
        page = await client.get("/api/docs")
        assert page.headers["content-type"].startswith("text/html")
        assert 'url: "/api/openapi.json"' in page.text
        assert (await client.get("/apix/users/7")).status_code == 404
    assert app.url_for("api:Users.get", id=7) == "/api/users/7"


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_an_asgi_app_mounted_through_from_asgi_sees_asgis_root_path(server: str, app: App[Any]) -> None:
    async with served(server, app) as (_, client):
        seen = (await client.get("/legacy/where?x=1", headers={"host": "example.com"})).json()
        assert seen["root_path"] == "/legacy"
        assert seen["path"] == "/legacy/where"
        assert seen["url_for"] == "http://example.com/legacy/where"
        assert (await client.get("/legacy/")).text == "Starlette home"
