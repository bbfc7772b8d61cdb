"""Depends: providers of every kind, cleanup order, nesting, the per-request cache, overrides."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pydantic
import pytest

from pyre import framework
from pyre.framework import App, BackgroundTasks, Depends, Header, HTTPException, Request, RouteError
from pyre.framework.testing import TestClient


class ClassProvider:
    def __init__(self, q: int) -> None:
        self.q = q


class Item(pydantic.BaseModel):
    name: str


async def tenant(request: Request) -> str:
    return request.headers.get("x-tenant", "none")


Tenant = Annotated[str, Depends(tenant)]
"""A dependency declared once in a type alias, as FastAPI code often does."""


def app_with(*handlers: tuple[str, Any], methods: tuple[str, ...] = ("GET",)) -> App:
    app = App()
    for path, handler in handlers:
        app.add_endpoint(path, handler, methods)
    return app


def test_providers_of_every_kind_give_their_value() -> None:
    main_thread = threading.get_ident()
    threads: dict[str, int] = {}

    def sync_provider() -> str:
        threads["sync"] = threading.get_ident()
        return "sync"

    async def async_provider() -> str:
        return "async"

    def sync_generator() -> Iterator[str]:
        threads["generator"] = threading.get_ident()
        yield "generator"

    async def async_generator() -> AsyncIterator[str]:
        yield "async generator"

    class Limiter:
        """A callable object as a provider, configured when it is made."""

        def __init__(self, limit: int) -> None:
            self.limit = limit

        async def __call__(self, request: Request, cost: int = 1) -> bool:
            return cost <= self.limit

    async def handler(
        e: Annotated[ClassProvider, Depends(ClassProvider)],
        f: bool = Depends(Limiter(3)),
        a: str = Depends(sync_provider),
        b: str = Depends(async_provider),
        c: str = Depends(sync_generator),
        d: str = Depends(async_generator),
    ) -> list[Any]:
        return [a, b, c, d, e.q, f]

    with TestClient(app_with(("/", handler))) as client:
        response = client.get("/?q=7&cost=5")
    assert response.json() == ["sync", "async", "generator", "async generator", 7, False]
    # Sync providers run in a worker thread, like sync handlers.
    assert threads["sync"] != main_thread
    assert threads["generator"] != main_thread


def make_logged(log: list[str], name: str) -> Any:
    async def provider() -> AsyncIterator[str]:
        log.append(f"enter {name}")
        try:
            yield name
        except Exception as exc:
            log.append(f"{name} saw {type(exc).__name__}")
            raise
        log.append(f"exit {name}")

    return provider


def test_generators_finish_after_the_handler_in_reverse_order() -> None:
    log: list[str] = []
    first, second = make_logged(log, "first"), make_logged(log, "second")

    def sync_third() -> Iterator[str]:
        log.append("enter third")
        yield "third"
        log.append("exit third")

    async def handler(a: str = Depends(first), b: str = Depends(second), c: str = Depends(sync_third)) -> str:
        log.append("handler")
        return a + b + c

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/").text == "firstsecondthird"
    assert log == [
        "enter first",
        "enter second",
        "enter third",
        "handler",
        "exit third",
        "exit second",
        "exit first",
    ]


def test_a_handler_error_is_thrown_into_every_generator_in_reverse_order() -> None:
    log: list[str] = []
    first, second = make_logged(log, "first"), make_logged(log, "second")

    async def handler(a: str = Depends(first), b: str = Depends(second)) -> str:
        raise HTTPException(409, "taken")

    async def crashing(a: str = Depends(first)) -> str:
        raise LookupError("bug")

    with TestClient(app_with(("/", handler), ("/crash", crashing))) as client:
        response = client.get("/")
        assert (response.status_code, response.json()) == (409, {"detail": "taken"})
        assert log == ["enter first", "enter second", "second saw HTTPException", "first saw HTTPException"]
        log.clear()
        assert client.get("/crash").status_code == 500
        assert log == ["enter first", "first saw LookupError"]


def test_a_sync_generator_sees_the_handler_error_too() -> None:
    seen: list[str] = []

    def provider() -> Iterator[None]:
        try:
            yield
        except HTTPException as exc:
            seen.append(f"rolled back on {exc.status}")
            raise

    async def handler(_: None = Depends(provider)) -> str:
        raise HTTPException(400)

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/").status_code == 400
    assert seen == ["rolled back on 400"]


def test_a_provider_that_swallows_the_error_cannot_answer_instead() -> None:
    async def swallowing() -> AsyncIterator[None]:
        try:
            yield
        except Exception:
            pass

    async def handler(_: None = Depends(swallowing)) -> str:
        raise HTTPException(418)

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/").status_code == 418


def test_a_provider_raising_http_exception_is_that_response_and_the_handler_never_runs() -> None:
    log: list[str] = []
    guarded = make_logged(log, "guarded")

    def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
        if authorization is None:
            raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
        return authorization

    async def handler(g: str = Depends(guarded), user: str = Depends(current_user)) -> str:
        log.append("handler")
        return user

    with TestClient(app_with(("/", handler))) as client:
        response = client.get("/")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert log == ["enter guarded", "guarded saw HTTPException"]
        assert client.get("/", headers={"Authorization": "ada"}).text == "ada"


def test_a_failing_cleanup_is_a_500() -> None:
    async def broken() -> AsyncIterator[None]:
        yield
        raise RuntimeError("commit failed")

    async def handler(_: None = Depends(broken)) -> str:
        return "ok"

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/").status_code == 500


def test_nested_providers_are_injected_like_handlers_and_cached_per_request() -> None:
    calls: list[str] = []

    async def connection(request: Request, tenant: str) -> str:
        calls.append("connection")
        return f"db:{tenant}:{request.method}"

    def repository(db: str = Depends(connection), limit: int = 10) -> str:
        calls.append("repository")
        return f"repo({db}, {limit})"

    async def handler(id: int, repo: str = Depends(repository), db: str = Depends(connection)) -> list[Any]:
        return [id, repo, db]

    app = App()
    app.add_endpoint("/items/{id:int}", handler)
    with TestClient(app) as client:
        response = client.get("/items/3?tenant=acme&limit=2")
        assert response.json() == [3, "repo(db:acme:GET, 2)", "db:acme:GET"]
        assert calls == ["connection", "repository"]
        client.get("/items/4?tenant=acme")
        # The cache is per request: the second request runs both again.
        assert calls == ["connection", "repository"] * 2


def test_use_cache_false_runs_the_provider_for_every_use() -> None:
    count = 0

    async def counter() -> int:
        nonlocal count
        count += 1
        return count

    async def handler(a: int = Depends(counter), b: int = Depends(counter, use_cache=False)) -> list[int]:
        return [a, b]

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/").json() == [1, 2]


def test_a_provider_gets_path_values_body_and_background_tasks() -> None:
    seen: list[Any] = []

    def audited(id: int, item: Item, tasks: BackgroundTasks) -> str:
        tasks.add(seen.append, f"audit {id}")
        return item.name

    async def handler(
        id: int, item: Item, name: str = Depends(audited), tasks: BackgroundTasks = None
    ) -> Any:  # type: ignore[assignment]
        tasks.add(seen.append, "handler task")
        return {"id": id, "name": name, "same body": item.name == name}

    app = App()
    app.add_endpoint("/items/{id:int}", handler, ["PUT"])
    with TestClient(app) as client:
        response = client.put("/items/5", json={"name": "pen"})
    assert response.json() == {"id": 5, "name": "pen", "same body": True}
    assert seen == ["audit 5", "handler task"]  # one BackgroundTasks shared by provider and handler


def test_invalid_values_of_provider_and_handler_are_reported_together() -> None:
    called: list[str] = []

    def paging(limit: int, offset: int = 0) -> tuple[int, int]:
        called.append("paging")
        return limit, offset

    async def handler(q: int, page: tuple[int, int] = Depends(paging)) -> str:
        return "unreachable"

    with TestClient(app_with(("/", handler))) as client:
        response = client.get("/?q=x&offset=y")
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [
        ["query", "q"],
        ["query", "limit"],
        ["query", "offset"],
    ]
    assert called == []


def test_overrides_replace_a_provider_everywhere_until_removed() -> None:
    def database() -> str:
        return "real"

    def repository(db: str = Depends(database)) -> str:
        return f"repo on {db}"

    async def handler(repo: str = Depends(repository), db: str = Depends(database)) -> list[str]:
        return [repo, db]

    app = app_with(("/", handler))
    with TestClient(app) as client:
        assert client.get("/").json() == ["repo on real", "real"]

        async def fake(flavour: str = "fake") -> AsyncIterator[str]:
            yield flavour

        app.dependency_overrides[database] = fake
        # The replacement's own parameters are injected: here a query parameter.
        assert client.get("/?flavour=test").json() == ["repo on test", "test"]
        del app.dependency_overrides[database]
        assert client.get("/").json() == ["repo on real", "real"]
        app.dependency_overrides = {repository: lambda: "stub"}
        assert client.get("/").json() == ["stub", "real"]
        app.dependency_overrides.clear()
        assert client.get("/").json() == ["repo on real", "real"]


def test_depends_in_annotated_metadata() -> None:
    async def handler(first: Tenant, second: Annotated[str, Depends(tenant, use_cache=False)]) -> list[str]:
        return [first, second]

    with TestClient(app_with(("/", handler))) as client:
        assert client.get("/", headers={"X-Tenant": "acme"}).json() == ["acme", "acme"]

    async def twice(value: Annotated[str, Depends(tenant)] = Depends(tenant)) -> str:
        return value

    async def with_default(value: Annotated[str, Depends(tenant)] = "x") -> str:
        return value

    with pytest.raises(RouteError, match="more than one Depends"):
        app_with(("/", twice))
    with pytest.raises(RouteError, match="not a default"):
        app_with(("/", with_default))


def test_blueprint_methods_take_dependencies() -> None:
    async def user(request: Request) -> str:
        return request.headers.get("x-user", "anonymous")

    class Profile(framework.Blueprint):
        @framework.endpoint("/me")
        async def me(self, who: str = Depends(user)) -> dict[str, str]:
            return {"user": who}

    app = App()
    app.add_blueprint(Profile())
    with TestClient(app) as client:
        assert client.get("/me", headers={"X-User": "ada"}).json() == {"user": "ada"}


def test_dependency_cycles_and_bad_providers_are_refused_at_registration() -> None:
    def looping(value: str = Depends(lambda: "x")) -> str:
        return value

    def a(b: str = Depends(looping)) -> str:
        return b

    a.__defaults__ = (Depends(a),)  # a depends on itself
    with pytest.raises(RouteError, match="dependency cycle"):
        app_with(("/", a))

    def star(*args: Any) -> None: ...

    async def handler(value: None = Depends(star)) -> str:
        return ""

    with pytest.raises(RouteError, match=r"\*args"):
        app_with(("/", handler))
    with pytest.raises(TypeError):
        Depends("not callable")  # type: ignore[arg-type]


def test_an_endpoint_without_dependencies_is_planned_as_before() -> None:
    async def plain(id: int) -> int:
        return id

    async def with_dependency(id: int, value: str = Depends(lambda: "x")) -> int:
        return id

    app = App()
    app.add_endpoint("/plain/{id:int}", plain)
    app.add_endpoint("/dep/{id:int}", with_dependency)
    app.prepare()
    endpoints = {
        registration.endpoint.pattern: registration.endpoint for registration in app.router.registrations
    }
    assert endpoints["/plain/{id:int}"].direct
    assert not endpoints["/plain/{id:int}"].plan.scoped
    assert not endpoints["/dep/{id:int}"].direct
    assert endpoints["/dep/{id:int}"].plan.scoped


def test_openapi_lists_the_parameters_of_providers() -> None:
    def paging(limit: int = 10, x_tenant: Annotated[str | None, Header()] = None) -> int:
        return limit

    def deeper(page: int = Depends(paging), q: str = "") -> int:
        return page

    async def handler(q: str, page: int = Depends(deeper), again: int = Depends(paging)) -> int:
        return page

    async def only_dependencies(page: int = Depends(paging)) -> int:
        return page

    app = app_with(("/search", handler), ("/pages", only_dependencies))
    paths = app.openapi()["paths"]
    assert "422" in paths["/pages"]["get"]["responses"]  # the provider's values can be invalid
    parameters = paths["/search"]["get"]["parameters"]
    assert [(parameter["in"], parameter["name"]) for parameter in parameters] == [
        ("query", "q"),
        ("query", "limit"),
        ("header", "x-tenant"),
    ]
