"""examples/todo.py as written, served over real loopback sockets: by pyre-server, and through
``pyre.asgi.to_asgi`` by uvicorn, with httpx, raw sockets and the ``websockets`` client.

Each test asserts one "Expected" line of issue #14. The example opens ``StaticFiles(directory="static")``
relative to the working directory, as a user running it from ``examples/`` would; each server gets
the example's module loaded afresh from ``examples/todo.py`` in a directory holding a copy of
``examples/static`` and, next to it, the files the traversal attempts aim at, with symlinks out of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import pathlib
import shutil
from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest
import websockets
from asgi_apps.in_process import SERVERS
from asgi_apps.servers import serve

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
HANG_GUARD = 20.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""

SECRET = b"outside the static directory\n"

pytestmark = pytest.mark.timeout(60)


# -- the example, its directory, and the two servers ----------------------------------------------------


def load_example(name: str) -> ModuleType:
    """A fresh module from examples/todo.py: its own app and store."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "todo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> ModuleType:
    shutil.copytree(EXAMPLES / "static", tmp_path / "static")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "static" / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "static" / "up").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return load_example(f"todo_example_{request.node.name}")


@dataclasses.dataclass
class Served:
    server: str
    port: int
    client: httpx.AsyncClient
    example: ModuleType


@pytest.fixture(params=list(SERVERS))
async def served(request: pytest.FixtureRequest, example: ModuleType) -> AsyncIterator[Served]:
    async with SERVERS[request.param](example.app) as port:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=HANG_GUARD) as client:
            yield Served(request.param, port, client, example)


async def raw_status(port: int, target: str) -> int:
    """The status of ``GET target`` sent byte for byte (httpx would normalise the dot segments)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        async with asyncio.timeout(HANG_GUARD):
            status_line = await reader.readline()
            await reader.read()  # the whole answer, so that nothing leaked from outside can hide in it
    finally:
        writer.close()
    return int(status_line.split()[1])


# -- the expected behaviour -----------------------------------------------------------------------------


async def test_creating_needs_a_session_then_cleanup_runs_after_the_handler_and_the_task_after_the_response(
    served: Served,
) -> None:
    client = served.client
    log: list[str] = served.example.app.state.store.log
    refused = await client.post("/todos", json={"title": "write docs"})
    assert refused.status_code == 401
    # transaction (the first dependency) had begun; current_user's 401 was thrown in at its yield,
    # which the example's provider does not catch, so its "end" never ran.
    assert log == ["begin"]

    login = await client.post("/login/ada")
    assert (login.status_code, login.json()) == (200, {"user": "ada"})
    assert "session" in login.cookies  # signed: test_a_forged_session_cookie_is_no_session

    created = await client.post("/todos", json={"title": "write docs"})
    assert created.status_code == 201
    assert created.json() == {"title": "write docs", "id": 1, "done": False}

    async with asyncio.timeout(HANG_GUARD):  # the background task runs once the response is sent
        while len(log) < 4:  # noqa: ASYNC110 - the example's log is a plain list, with nothing to await
            await asyncio.sleep(0.01)
    assert log[1:] == ["begin", "end", "created 1 by ada"]


async def test_a_forged_session_cookie_is_no_session(served: Served) -> None:
    client = served.client
    await client.post("/login/ada")
    genuine = client.cookies["session"]
    client.cookies.clear()
    client.cookies.set("session", genuine[:-2] + ("BB" if genuine.endswith("AA") else "AA"))
    assert (await client.post("/todos", json={"title": "x"})).status_code == 401
    client.cookies.set("session", genuine)
    assert (await client.post("/todos", json={"title": "x"})).status_code == 201


async def test_get_todo_found_missing_and_not_an_int(served: Served) -> None:
    client = served.client
    await client.post("/login/ada")
    await client.post("/todos", json={"title": "write docs"})
    found = await client.get("/todos/1")
    assert (found.status_code, found.json()) == (200, {"title": "write docs", "id": 1, "done": False})
    assert (await client.get("/todos/9")).status_code == 404
    assert (await client.get("/todos/x")).status_code == 404


async def test_websocket_echo_upper_cases(served: Served) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws/echo", open_timeout=HANG_GUARD) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), HANG_GUARD) == "HI"
        await ws.send("again")
        assert await asyncio.wait_for(ws.recv(), HANG_GUARD) == "AGAIN"


async def test_static_file_with_etag_and_range(served: Served) -> None:
    content = (EXAMPLES / "static" / "hello.txt").read_bytes()
    whole = await served.client.get("/static/hello.txt")
    assert (whole.status_code, whole.content) == (200, content)
    assert whole.headers["content-type"].startswith("text/plain")
    etag = whole.headers["etag"]
    assert (await served.client.get("/static/hello.txt", headers={"if-none-match": etag})).status_code == 304
    part = await served.client.get("/static/hello.txt", headers={"range": "bytes=0-4"})
    assert (part.status_code, part.content) == (206, content[:5])
    assert part.headers["content-range"] == f"bytes 0-4/{len(content)}"


@pytest.mark.parametrize(
    "target",
    [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/..%2Fsecret.txt",
        "/static/%2e%2e%2Fsecret.txt",
        "/static/..%5Csecret.txt",
        "/static/%2e%2e%5Csecret.txt",
        "/static/escape.txt",  # a symlink to a file outside
        "/static/up/secret.txt",  # a symlink to a directory outside
    ],
)
async def test_every_traversal_attempt_is_a_404(served: Served, target: str) -> None:
    assert await raw_status(served.port, target) == 404


async def test_docs_page_renders_the_openapi_document_with_assets_from_a_cdn(served: Served) -> None:
    page = await served.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert "swagger-ui" in page.text
    assert "https://cdn." in page.text


async def test_openapi_document_codes_schema_and_security(served: Served) -> None:
    response = await served.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    create = document["paths"]["/todos"]["post"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/Todo"}
    assert "200" not in create["responses"]
    assert {"401", "422"} <= set(create["responses"])
    get = document["paths"]["/todos/{id}"]["get"]
    assert {"200", "404"} <= set(get["responses"])
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Todo"
    }
    assert set(document["components"]["schemas"]["Todo"]["properties"]) == {"title", "id", "done"}

    session = {"type": "apiKey", "in": "cookie", "name": "session"}
    assert session in document["components"]["securitySchemes"].values()


def test_pyre_serve_runs_it_from_the_examples_directory(tmp_path: pathlib.Path) -> None:
    """``cd examples && pyre serve todo:app``: the command a reader of the example types."""
    with serve("pyre", "todo:app", tmp_path, cwd=EXAMPLES) as running:
        hello = running.request("GET", "/static/hello.txt")
        assert (hello.status, hello.body) == (200, (EXAMPLES / "static" / "hello.txt").read_bytes())
        json = {"content-type": "application/json"}
        assert running.request("POST", "/todos", headers=json, body=b'{"title": "x"}').status == 401
        login = running.request("POST", "/login/ada")
        session = (login.header("set-cookie") or "").split(";")[0]
        assert session.startswith("session=")
        created = running.request(
            "POST", "/todos", headers={**json, "cookie": session}, body=b'{"title": "x"}'
        )
        assert (created.status, created.body) == (201, b'{"title":"x","id":1,"done":false}')
