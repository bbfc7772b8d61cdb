"""The same ASGI applications on uvicorn and on pyre-server (through from_asgi): same answers.

Each application is served by a real uvicorn process, the reference, and by:

- ``pyre``: a real pyre-server process (``python -m pyre.server MODULE:ATTR``,
  ``--interface auto`` detecting the ASGI app and wrapping it with ``from_asgi``);
- ``round-trip``: uvicorn again, serving ``to_asgi(from_asgi(app))``.

Every request goes to each; status, headers (less ``date`` and ``server``) and
body must match the reference.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from asgi_apps.servers import Reply, Running, serve

APPS = {
    "raw": "asgi_apps.raw:app",
    "starlette": "asgi_apps.starlette_app:app",
    "fastapi": "asgi_apps.fastapi_app:app",
}
ROUND_TRIP_APPS = {
    "raw": "asgi_apps.bridged:raw_app",
    "starlette": "asgi_apps.bridged:starlette",
    "fastapi": "asgi_apps.bridged:fastapi",
}
# candidate -> (server process, app targets)
CANDIDATES = {"pyre": ("pyre", APPS), "round-trip": ("uvicorn", ROUND_TRIP_APPS)}

JSON = {"content-type": "application/json"}
ITEM = json.dumps({"name": "lamp", "price": 20, "tags": ["home"]}).encode()

# (app, method, target, headers, body)
REQUESTS: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("raw", "GET", "/", {}, None),
    ("raw", "HEAD", "/", {}, None),
    ("raw", "POST", "/echo", {}, b"0123456789" * 1000),
    ("raw", "GET", "/scope?b=2&a=%201", {"X-Beta": "2", "X-Alpha": "1"}, None),
    ("raw", "GET", "/caf%C3%A9/%2F", {}, None),
    ("raw", "GET", "/stream", {}, None),
    ("raw", "GET", "/status", {}, None),
    ("starlette", "GET", "/", {}, None),
    ("starlette", "GET", "/users/42?active=true", {}, None),
    ("starlette", "GET", "/users/nope", {}, None),
    ("starlette", "GET", "/stream", {}, None),
    ("starlette", "GET", "/file", {}, None),
    ("starlette", "HEAD", "/file", {}, None),
    ("starlette", "POST", "/echo", {"content-type": "text/plain"}, "héllo".encode()),
    ("starlette", "DELETE", "/echo", {}, None),
    ("starlette", "GET", "/background?entry=first", {}, None),
    ("starlette", "GET", "/patience", {}, None),
    # ServerErrorMiddleware sends the app's 500 page, then re-raises: the page must reach the client.
    ("starlette", "GET", "/crash", {}, None),
    ("starlette", "GET", "/memoryview", {}, None),  # Response(content=memoryview(...)): one chunk
    ("starlette", "GET", "/static/hello.txt", {}, None),
    ("starlette", "HEAD", "/static/hello.txt", {}, None),  # StaticFiles behind BaseHTTPMiddleware
    ("fastapi", "GET", "/", {}, None),
    ("fastapi", "POST", "/items?offset=5", {**JSON, "X-Region": "eu"}, ITEM),
    ("fastapi", "POST", "/items", JSON, b'{"name": "", "price": -1}'),
    ("fastapi", "POST", "/items", JSON, b"{not json"),
    ("fastapi", "GET", "/items/3?limit=2", {}, None),
    ("fastapi", "GET", "/items/0", {}, None),
    ("fastapi", "GET", "/items/abc", {}, None),
    ("fastapi", "GET", "/nowhere", {}, None),
    ("fastapi", "GET", "/crash", {}, None),  # a custom exception handler's 500 page
]


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], Running]]:
    """Servers by (server, app), started on first use and kept for the module."""
    logs = tmp_path_factory.mktemp("logs")
    running: dict[tuple[str, str], Running] = {}
    with ExitStack() as stack:

        def get(candidate: str, app: str) -> Running:
            if (candidate, app) not in running:
                server, targets = CANDIDATES.get(candidate, ("uvicorn", APPS))
                running[candidate, app] = stack.enter_context(serve(server, targets[app], logs))
            return running[candidate, app]

        yield get


def comparable(reply: Reply) -> tuple[Any, ...]:
    headers = sorted((name, value) for name, value in reply.headers if name not in ("date", "server"))
    return reply.status, headers, reply.body


@pytest.mark.parametrize("candidate", list(CANDIDATES))
@pytest.mark.parametrize(
    ("app", "method", "target", "headers", "body"),
    REQUESTS,
    ids=[f"{app}-{method}-{target}" for app, method, target, _, _ in REQUESTS],
)
def test_same_answer_as_uvicorn(
    started: Callable[[str, str], Running],
    candidate: str,
    app: str,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    reference = started("uvicorn", app).request(method, target, headers=headers, body=body)
    answer = started(candidate, app).request(method, target, headers=headers, body=body)
    assert comparable(answer) == comparable(reference)


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_starlette_background_task_runs_after_the_response(
    started: Callable[[str, str], Running], candidate: str
) -> None:
    entry = f"after-{candidate}"
    for server in ("uvicorn", candidate):
        running = started(server, "starlette")
        assert running.request("GET", f"/background?entry={entry}").body == b"queued"
        # The task runs after the response: ask until it shows (bounded by count, not by time).
        for _ in range(200):
            log = json.loads(running.request("GET", "/background/log").body)
            if entry in log:
                break
        assert log.count(entry) == 1, server


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_starlette_head_runs_the_background_task_of_a_stream(
    started: Callable[[str, str], Running], candidate: str
) -> None:
    entry = f"head-{candidate}"
    for server in ("uvicorn", candidate):
        running = started(server, "starlette")
        # A second request follows on the same connection: the client is still there when
        # the HEAD response is complete, so nothing may cancel the app.
        with socket.create_connection(("127.0.0.1", running.port), timeout=30) as client:
            client.sendall(
                f"HEAD /stream/background?entry={entry} HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
            )
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 "), server
        assert b"number 0" not in received, server
        for _ in range(200):
            log = json.loads(running.request("GET", "/background/log").body)
            if entry in log:
                break
        assert log.count(entry) == 1, server


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_streaming_is_chunked_on_both(started: Callable[[str, str], Running], candidate: str) -> None:
    for server in ("uvicorn", candidate):
        reply = started(server, "starlette").request("GET", "/stream")
        assert reply.header("transfer-encoding") == "chunked", server
        assert reply.header("x-middleware") == "seen", server
        assert reply.body == b"".join(b"number %d\n" % index for index in range(5)), server


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_anyio_cancel_scope_inside_middleware(started: Callable[[str, str], Running], candidate: str) -> None:
    reply = started(candidate, "starlette").request("GET", "/patience")
    assert (reply.status, reply.body) == (200, b"cancelled=True")
    assert reply.header("x-middleware") == "seen"


# Not compared with uvicorn: its httptools protocol drops send() after a disconnect
# instead of raising, so there a raw app streaming forever never learns the client left.
@pytest.mark.parametrize("server", list(CANDIDATES))
def test_client_leaving_an_endless_stream_ends_the_app(
    started: Callable[[str, str], Running], server: str
) -> None:
    running = started(server, "raw")
    before = json.loads(running.request("GET", "/events/abandoned").body)
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as client:
        client.sendall(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"data: 2" not in received:
            received += client.recv(4096)
    assert received.startswith(b"HTTP/1.1 200")
    # The app notices on its next send or wait; ask until it has (bounded by count, not by time).
    for _ in range(500):
        after = json.loads(running.request("GET", "/events/abandoned").body)
        if len(after) > len(before):
            break
    assert len(after) == len(before) + 1
