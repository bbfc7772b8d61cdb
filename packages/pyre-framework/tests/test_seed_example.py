"""The framework sketch from the original write-up, verbatim, as an extension module."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyre.framework import App
from pyre.framework.testing import AsyncTestClient, TestClient

SEED = textwrap.dedent(
    """
    from pyre import framework
    from pyre.framework import App, Request, responses


    class MyEndpoint(framework.Blueprint):
        def __init__(self, app: App):
            self.app = app

        @framework.endpoint("/hello/{name:string}", methods=["GET"])
        async def on_get_hello(self, name: str):
            return f"Hello, {name}!"

        @framework.endpoint("/hello/{name:string}", methods=["POST"])
        async def on_post_hello(self, request: Request, name: str):
            body = await request.body.json()
            return responses.JSONResponse(
                {"message": f"Hello, {name}! You are aged: {body['age']}"},
                status=200,
            )


    def setup(app: App):
        app.add_blueprint(MyEndpoint(app))
    """
)


@pytest.fixture
def seed_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "seed_extension.py").write_text(SEED)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "seed_extension"
    sys.modules.pop("seed_extension", None)


def test_get_hello(seed_module: str) -> None:
    app = App()
    app.load_extension(seed_module)
    with TestClient(app) as client:
        response = client.get("/hello/Ada")
    assert response.status_code == 200
    assert response.text == "Hello, Ada!"
    assert response.headers["content-type"].startswith("text/plain")


def test_post_hello_reads_the_json_body(seed_module: str) -> None:
    app = App()
    app.load_extension(seed_module)
    with TestClient(app) as client:
        response = client.post("/hello/Ada", json={"age": 36})
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada! You are aged: 36"}


async def test_seed_through_the_async_client(seed_module: str) -> None:
    app = App()
    app.load_extension(seed_module)
    async with AsyncTestClient(app) as client:
        got = await client.get("/hello/world")
        posted = await client.post("/hello/world", json={"age": 1})
        wrong = await client.delete("/hello/world")
    assert got.text == "Hello, world!"
    assert posted.json()["message"] == "Hello, world! You are aged: 1"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_seed_blueprint_keeps_the_app(seed_module: str) -> None:
    app = App()
    app.load_extension(seed_module)
    (blueprint,) = app.blueprints
    assert blueprint.app is app  # type: ignore[attr-defined]
    assert app.url_for("MyEndpoint.on_get_hello", name="Ada") == "/hello/Ada"
