"""A pyre-spec application through ``to_asgi`` on real uvicorn, hypercorn and granian processes.

Every server gets the same requests and must give the same answers, the ones
pyre-server gives serving the application directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Iterator

import pytest
from asgi_apps.pyre_app import STATIC
from asgi_apps.servers import Running, serve

SERVERS = {
    "pyre": "asgi_apps.pyre_app:app",
    "uvicorn": "asgi_apps.pyre_app:asgi",
    "hypercorn": "asgi_apps.pyre_app:asgi",
    "granian": "asgi_apps.pyre_app:asgi",
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(request.param, SERVERS[request.param], tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_hello(server: Running) -> None:
    reply = server.request("GET", "/")
    assert reply.status == 200
    assert reply.body == b"hello"
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.header("content-length") == "5"


def test_head_has_headers_but_no_body(server: Running) -> None:
    reply = server.request("HEAD", "/")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.header("content-length") == "5"


def test_not_found(server: Running) -> None:
    reply = server.request("GET", "/nowhere")
    assert (reply.status, reply.body) == (404, b"not found")


def test_request_body_with_content_length(server: Running) -> None:
    content = os.urandom(300_000)
    reply = server.request("POST", "/echo", body=content)
    assert reply.status == 200
    assert reply.body == content
    assert reply.header("x-sha256") == hashlib.sha256(content).hexdigest()


def test_chunked_request_body(server: Running) -> None:
    parts = [b"first part,", b"second part,", b"x" * 70_000]
    reply = server.request("POST", "/echo", body=iter(parts))
    assert reply.status == 200
    assert reply.body == b"".join(parts)


def test_streaming_response(server: Running) -> None:
    reply = server.request("GET", "/stream")
    assert reply.status == 200
    assert reply.body == b"".join(b"line %d\n" % index for index in range(5))
    assert reply.header("content-length") is None
    assert reply.header("transfer-encoding") == "chunked"


def test_file_response(server: Running) -> None:
    reply = server.request("GET", "/file")
    assert reply.status == 200
    assert reply.body == pathlib.Path(STATIC).read_bytes()
    assert reply.header("content-length") == str(len(reply.body))


def test_lifespan_state_reaches_requests(server: Running) -> None:
    reply = server.request("GET", "/state")
    assert (reply.status, reply.body) == (200, b"yes")


def test_request_fields(server: Running) -> None:
    reply = server.request("GET", "/request?x=1&y=%20", headers={"X-Test": "one"})
    described = json.loads(reply.body)
    assert described["method"] == "GET"
    assert described["path"] == "/request"
    assert described["raw_path"] == "/request"
    assert described["query"] == "x=1&y=%20"
    assert described["http_version"] == "1.1"
    assert described["scheme"] == "http"
    assert described["authority"] == f"127.0.0.1:{server.port}"
    assert described["client_host"] == "127.0.0.1"
    assert described["x_test"] == ["one"]


def test_repeated_response_headers_are_kept(server: Running) -> None:
    reply = server.request("GET", "/cookies")
    assert [value for name, value in reply.headers if name == "set-cookie"] == ["a=1", "b=2"]
