"""``--root-path`` on uvicorn and on pyre-server: the same ASGI scope, the same URLs.

The ASGI spec's ``root_path`` is "the root path this application is mounted
at; same as ``SCRIPT_NAME`` in WSGI", and "``PATH_INFO`` can be derived by
stripping ``root_path`` from ``path``": the ASGI ``path`` includes the prefix.
A proxy strips ``/api`` and forwards ``/where``; uvicorn, and pyre through
``from_asgi``, give the app ``path == "/api/where"``.  The round trip
(``to_asgi(from_asgi(app))`` on uvicorn) checks that ``to_asgi`` takes the
prefix off for the pyre-spec side and ``from_asgi`` puts it back.
"""

from __future__ import annotations

import json

import pytest
from asgi_apps.servers import serve

ROOT = ["--root-path", "/api"]
CANDIDATES = {
    "uvicorn": ("uvicorn", "asgi_apps.starlette_app:app"),
    "pyre": ("pyre", "asgi_apps.starlette_app:app"),
    "round-trip": ("uvicorn", "asgi_apps.bridged:starlette"),
}


@pytest.fixture(scope="module")
def scopes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """What the app saw of ``GET /where?x=1`` on each candidate, all started with ``--root-path /api``."""
    logs = tmp_path_factory.mktemp("logs")
    seen = {}
    for name, (server, target) in CANDIDATES.items():
        with serve(server, target, logs, ROOT) as running:
            reply = running.request("GET", "/where?x=1", headers={"Host": "example.com"})
            assert reply.status == 200, (name, reply)
            seen[name] = json.loads(reply.body)
    return seen


def test_uvicorn_puts_the_prefix_in_the_path(scopes: dict[str, dict[str, str]]) -> None:
    assert scopes["uvicorn"] == {
        "path": "/api/where",
        "raw_path": "/api/where",
        "root_path": "/api",
        "url": "http://example.com/api/where?x=1",
        "url_for": "http://example.com/api/where",
    }


@pytest.mark.parametrize("candidate", ["pyre", "round-trip"])
def test_same_scope_as_uvicorn(scopes: dict[str, dict[str, str]], candidate: str) -> None:
    assert scopes[candidate] == scopes["uvicorn"]
