"""docs/framework/migrate-fastapi.md and migrate-starlette.md: each "same endpoint twice" pair runs as
written, the two versions answer alike, and where the page says they differ they differ so."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import httpx

from pyre.framework.testing import AsyncTestClient

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "framework"


def asgi_client(app: Any) -> httpx.AsyncClient:
    """The FastAPI or Starlette app, called in memory through httpx's ASGI transport."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def pair(page: str) -> tuple[Any, Any]:
    """The apps of the page's first two code blocks: the other framework's, then pyre-framework's."""
    sources = re.findall(r"```py\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)[:2]
    apps = []
    for index, source in enumerate(sources):
        namespace: dict[str, Any] = {"__name__": f"migration_{index}"}
        exec(compile(source, f"{page}[{index}]", "exec"), namespace)
        apps.append(namespace["app"])
    return apps[0], apps[1]


async def test_fastapi_pair() -> None:
    theirs, ours = pair("migrate-fastapi.md")
    item = {"name": "pen", "price": 1.5}
    async with asgi_client(theirs) as fastapi, AsyncTestClient(ours) as pyre:
        for client in (fastapi, pyre):
            assert (await client.post("/items/", params={"dry-run": "true"}, json=item)).status_code == 201
            assert (await client.get("/items/1")).json() == {"detail": "no such item"}
            created = await client.post("/items/", json=item)
            assert (created.status_code, created.json()) == (201, item)
            assert (await client.get("/items/1")).json() == item
        # The difference the page points out: a path parameter that does not convert.
        assert (await fastapi.get("/items/abc")).status_code == 422
        assert (await pyre.get("/items/abc")).status_code == 404


async def test_starlette_pair() -> None:
    theirs, ours = pair("migrate-starlette.md")
    ada = {"id": 1, "name": "ada"}
    async with asgi_client(theirs) as starlette, AsyncTestClient(ours) as pyre:
        for client in (starlette, pyre):
            assert (await client.get("/users/1?verbose=true")).json() == {**ada, "verbose": True}
            assert (await client.get("/users/1")).json() == {**ada, "verbose": False}
            assert (await client.get("/users/2")).status_code == 404
        # The difference the page points out: an invalid query value.
        assert (await starlette.get("/users/1?verbose=perhaps")).json()["verbose"] is False
        assert (await pyre.get("/users/1?verbose=perhaps")).status_code == 422
