"""ASGI apps under a real gunicorn arbiter through ``pyre.server.gunicorn.PyreWorker``:
the worker detects them with pyre-asgi's ``is_asgi_app``, as ``pyre serve`` does.

(The worker's settings, signals and restarts: packages/pyre-server/tests/test_server_gunicorn.py.)
"""

from __future__ import annotations

import json
import pathlib

import pytest
from asgi_apps.servers import serve

pytest.importorskip("gunicorn")


def test_a_starlette_app_with_its_lifespan_and_a_stream(tmp_path: pathlib.Path) -> None:
    with serve("gunicorn", "asgi_apps.starlette_app:app", tmp_path) as running:
        reply = running.request("GET", "/")
        assert (reply.status, reply.body) == (200, b"Starlette home")
        assert reply.header("server") == "pyre"
        # request.state.database is what the lifespan yielded: it ran in the worker.
        user = json.loads(running.request("GET", "/users/7?tab=1").body)
        assert user == {"id": 7, "database": "connected", "query": {"tab": "1"}}
        stream = running.request("GET", "/stream")
        assert stream.header("transfer-encoding") == "chunked"
        assert stream.body == b"".join(b"number %d\n" % index for index in range(5))


def test_a_raw_asgi_app_without_lifespan(tmp_path: pathlib.Path) -> None:
    with serve("gunicorn", "asgi_apps.raw:app", tmp_path) as running:
        assert running.request("GET", "/").body == b"hello, world"
        assert running.request("POST", "/echo", body=b"abc").body == b"cba"
        scope = json.loads(running.request("GET", "/scope?q=1").body)
        assert (scope["path"], scope["query_string"], scope["scheme"]) == ("/scope", "q=1", "http")
