"""docs/framework/tutorial/ runs as written: each page's code is imported as the reader's ``todos.py``,
the answers its console examples show are the answers it gives (and are on the page), the testing
page's tests pass against the finished service, and that service runs under ``pyre serve --workers 2``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pathlib
import re
import sys
from types import ModuleType
from typing import Any

import pytest
from asgi_apps.servers import serve

from pyre.framework.testing import TestClient

TUTORIAL = pathlib.Path(__file__).resolve().parent.parent / "docs" / "framework" / "tutorial"
HANG_GUARD = 20.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""


def blocks(page: str) -> list[str]:
    return re.findall(r"```py\n(.*?)```", (TUTORIAL / page).read_text(), flags=re.DOTALL)


def as_todos(page: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The page's first block, saved and imported as ``todos``, as the reader runs it."""
    (tmp_path / "todos.py").write_text(blocks(page)[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "todos", raising=False)
    return importlib.import_module("todos")


def shown(page: str, text: str) -> str:
    """``text``, after checking the page shows it (so the page and this test cannot drift apart)."""
    assert text in (TUTORIAL / page).read_text(), f"{page} does not show {text!r}"
    return text


def test_first_endpoint(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = "first-endpoint.md"
    with TestClient(as_todos(page, tmp_path, monkeypatch).app) as client:
        assert client.get("/todos/").text == shown(page, '["write the tutorial"]')
        refused = client.delete("/todos/")
        assert refused.status_code == 405
        assert refused.headers["allow"] == shown(page, "GET, HEAD, OPTIONS")


def test_parameters(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = "parameters.md"
    with TestClient(as_todos(page, tmp_path, monkeypatch).app) as client:
        assert client.get("/todos/1").text == shown(page, '{"id":1,"title":"write the tutorial"}')
        assert client.get("/todos/0").status_code == 404
        assert client.get("/todos/one").status_code == 404
        assert client.get("/todos/?contains=read&limit=1").text == shown(page, '["read it"]')
        invalid = client.get("/todos/?limit=many")
        assert invalid.status_code == 422
        assert invalid.text == shown(
            page, '{"detail":[{"loc":["query","limit"],"msg":"not a valid integer","type":"value_error"}]}'
        )


def test_models(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = "models.md"
    app = as_todos(page, tmp_path, monkeypatch).app
    with TestClient(app) as client:
        created = client.post("/todos/", json={"title": "buy milk"})
        assert created.status_code == 201
        assert created.text == shown(page, '{"title":"buy milk","id":1,"done":false}')
        invalid = client.post("/todos/", json={"title": ""})
        assert invalid.text == shown(
            page,
            '{"detail":[{"loc":["body","title"],"msg":"String should have at least 1 character",'
            '"type":"string_too_short"}]}',
        )
        document = client.get("/openapi.json").json()
    assert set(document["paths"]["/todos/"]["post"]["responses"]) == {"201", "422"}
    assert set(document["paths"]["/todos/{id}"]["get"]["responses"]) == {"200", "404"}


def test_injection_and_its_dependencies(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = "injection.md"
    todos = as_todos(page, tmp_path, monkeypatch)
    with TestClient(todos.create_app(), headers={"user-agent": "curl/8"}) as client:
        assert client.post("/todos/", json={"title": "buy milk"}).status_code == 201
        assert client.get("/todos/whoami").json() == {
            "client": ["127.0.0.1", 50000],
            "agent": "curl/8",
            "todos": 1,
        }

    # The dependencies section appended to the page's module, its "..." standing for the blueprint above.
    section = blocks(page)[1].replace("class Todos(framework.Blueprint):\n    ...\n", "class Todos(Todos):\n")
    (tmp_path / "todos_with_dependencies.py").write_text(blocks(page)[0] + "\n\n" + section)
    monkeypatch.delitem(sys.modules, "todos_with_dependencies", raising=False)
    module = importlib.import_module("todos_with_dependencies")

    app = module.create_app()
    assert set(app.openapi()["paths"]["/todos/"]["post"]["responses"]) == {"201", "401", "422"}
    with TestClient(app) as client:
        refused = client.post("/todos/", json={"title": "x"})
        assert (refused.status_code, refused.json()) == (401, {"detail": "say who you are in x-user"})
        created = client.post("/todos/", json={"title": "x"}, headers={"x-user": "ada"})
        assert (created.status_code, created.json()["title"]) == (201, "x (ada)")
        app.dependency_overrides[module.current_user] = lambda: "tester"
        assert client.post("/todos/", json={"title": "y"}).json()["title"] == "y (tester)"


def test_the_testing_pages_tests_pass_on_the_finished_service(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_todos("deploy.md", tmp_path, monkeypatch)
    tests = [
        name
        for source in blocks("testing.md")
        for name in re.findall(r"^(?:async )?def (test_\w+)", source, re.M)
    ]
    assert tests == ["test_create_then_get", "test_missing_and_invalid", "test_over_a_socket"]
    for source in blocks("testing.md"):
        namespace: dict[str, Any] = {}
        exec(source, namespace)
        for name, function in namespace.items():
            if name.startswith("test_"):
                result = function()
                if inspect.iscoroutine(result):
                    asyncio.run(asyncio.wait_for(result, HANG_GUARD))


def test_the_finished_service_under_pyre_serve_with_two_workers(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_todos("deploy.md", tmp_path, monkeypatch)
    assert shown("deploy.md", "pyre serve todos:app --host 0.0.0.0 --port 8000 --workers 2")
    with serve(
        "pyre", "todos:app", tmp_path, ["--workers", "2", "--log-level", "info"], cwd=tmp_path
    ) as running:
        created = running.request(
            "POST", "/todos/", headers={"content-type": "application/json"}, body=b'{"title": "deployed"}'
        )
        assert created.status == 201
        assert (created.header("server-timing") or "").startswith("app;dur=")
        assert running.output().count("Started worker") == 2
