"""pyre-server's request body limit reaches ASGI apps as a 413, as it does pyre-spec apps.

uvicorn has no body limit; pyre-server has one (``--limit-body-size``, 16 MiB by
default) on every path.  A ``Content-Length`` over it is refused before the app
runs; a chunked body is only found to be too large while the app reads it.
Then ``from_asgi`` tells the app the client has gone (``http.disconnect``) and
answers 413 itself, whatever the app makes of that: FastAPI would otherwise
answer 400 "There was an error parsing the body".
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
from asgi_apps.servers import Running, serve

LIMIT = 1000
ITEM = {"name": "lamp", "price": 20, "tags": ["x" * 100] * 30}  # about 3 KB of JSON


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module", params=["fastapi", "starlette"])
def limited(request: pytest.FixtureRequest, logs: pathlib.Path) -> Iterator[tuple[str, Running]]:
    app = request.param
    with serve("pyre", f"asgi_apps.{app}_app:app", logs, ["--limit-body-size", str(LIMIT)]) as running:
        yield app, running


def target(app: str) -> str:
    return "/items" if app == "fastapi" else "/echo"


def chunks(data: bytes, size: int = 256) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_body_over_the_limit_is_413(limited: tuple[str, Running]) -> None:
    app, running = limited
    body = json.dumps(ITEM).encode()
    assert len(body) > LIMIT
    reply = running.request(
        "POST", target(app), headers={"content-type": "application/json"}, body=chunks(body)
    )
    assert reply.status == 413
    assert reply.header("connection") == "close"


def test_content_length_over_the_limit_is_413(limited: tuple[str, Running]) -> None:
    app, running = limited
    reply = running.request(
        "POST", target(app), headers={"content-type": "application/json"}, body=b"{" + b" " * LIMIT + b"}"
    )
    assert reply.status == 413


def test_chunked_body_within_the_limit_is_served(limited: tuple[str, Running]) -> None:
    app, running = limited
    body = json.dumps({"name": "lamp", "price": 20}).encode()
    reply = running.request(
        "POST", target(app), headers={"content-type": "application/json"}, body=chunks(body, 8)
    )
    assert reply.status == 200
