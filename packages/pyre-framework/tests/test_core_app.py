"""The App: hooks, exception handlers, default errors, lifespan, state, extensions, sync handlers."""

from __future__ import annotations

import dataclasses
import logging
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pyre.spec
from pyre import framework
from pyre.framework import App, ExtensionError, HTTPException, Request, responses
from pyre.framework.testing import AsyncTestClient, TestClient
from pyre.spec.testing import Driver


class Failing(framework.Blueprint):
    @framework.endpoint("/boom")
    async def boom(self) -> str:
        raise RuntimeError("secret database password in here")

    @framework.endpoint("/teapot")
    async def teapot(self) -> str:
        raise HTTPException(418, "short and stout", headers={"x-pot": "1"})

    @framework.endpoint("/value")
    async def value(self) -> str:
        raise ValueError("bad value")

    @framework.endpoint("/key")
    async def key(self) -> str:
        raise KeyError("k")


def test_http_exception_becomes_json() -> None:
    response = TestClient(app_with(Failing())).get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"detail": "short and stout"}
    assert response.headers["x-pot"] == "1"


def test_unhandled_exception_is_a_500_that_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="pyre.framework"):
        response = TestClient(app_with(Failing())).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "secret" not in response.text
    (record,) = caplog.records
    assert record.exc_info is not None
    assert "secret database password" in str(record.exc_info[1])


def app_with(*blueprints: framework.Blueprint) -> App[Any]:
    app = App()
    for blueprint in blueprints:
        app.add_blueprint(blueprint)
    return app


class Handled(Failing):
    @framework.exception_handler(ValueError)
    def on_value(self, request: Request, exc: ValueError) -> tuple[dict[str, str], int]:
        return {"blueprint": str(exc)}, 400


def test_closest_exception_handler_wins() -> None:
    app = app_with(Handled())
    other = app_with(Handled())

    @app.exception_handler(ValueError, KeyError)
    async def app_level(request: Request, exc: Exception) -> responses.JSONResponse:
        return responses.JSONResponse({"app": type(exc).__name__}, status=409)

    client = TestClient(app)
    assert client.get("/value").json() == {"blueprint": "bad value"}
    assert client.get("/key").json() == {"app": "KeyError"}
    assert client.get("/key").status_code == 409
    assert TestClient(other).get("/key").status_code == 500  # app handlers belong to their app


def test_handlers_by_status_code_and_for_router_errors() -> None:
    app = app_with(Failing())
    app.add_exception_handler(404, lambda request, exc: responses.HTMLResponse("<h1>gone</h1>", status=404))
    app.add_exception_handler(HTTPException, lambda request, exc: ({"other": exc.status}, exc.status))
    client = TestClient(app)
    missing = client.get("/nope")
    assert (missing.status_code, missing.text) == (404, "<h1>gone</h1>")
    assert client.get("/teapot").json() == {"other": 418}


def test_a_failing_exception_handler_is_a_500() -> None:
    app = app_with(Failing())

    @app.exception_handler(RuntimeError)
    def broken(request: Request, exc: Exception) -> None:
        raise LookupError("handler bug")

    assert TestClient(app).get("/boom").status_code == 500


def test_request_body_too_large_is_413() -> None:
    class Upload(framework.Blueprint):
        @framework.endpoint("/", methods=["POST"])
        async def upload(self, request: Request) -> str:
            await request.spec.body.read(max_size=3)
            return "read"

    response = TestClient(app_with(Upload())).post("/", content=b"12345")
    assert response.status_code == 413
    assert response.json() == {"detail": "request body exceeds 3 bytes"}


class Hooked(framework.Blueprint):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @framework.before_request
    def before(self, request: Request) -> Any:
        self.log.append("bp before")
        if request.headers.get("x-stop"):
            return "stopped by blueprint"
        return None

    @framework.after_request
    async def after(self, request: Request, response: pyre.spec.Response) -> None:
        self.log.append("bp after")
        response.headers = [*response.headers, (b"x-after", b"bp")]

    @framework.endpoint("/hooked")
    async def hooked(self) -> str:
        self.log.append("handler")
        return "handled"

    @framework.on_startup
    async def start(self) -> None:
        self.log.append("bp startup")

    @framework.on_shutdown
    def stop(self) -> None:
        self.log.append("bp shutdown")


def test_before_and_after_hooks_app_outside_blueprint() -> None:
    log: list[str] = []
    app = app_with(Hooked(log))
    app.before_request(lambda request: log.append("app before"))

    @app.after_request
    def replace(request: Request, response: pyre.spec.Response) -> Any:
        log.append("app after")
        return response if response.status == 200 else "replaced by app"

    client = TestClient(app)
    response = client.get("/hooked")
    assert response.text == "handled"
    assert response.headers["x-after"] == "bp"
    assert log == ["app before", "bp before", "handler", "bp after", "app after"]
    log.clear()
    assert client.get("/hooked", headers={"x-stop": "1"}).text == "stopped by blueprint"
    assert log == ["app before", "bp before", "bp after", "app after"]
    assert client.get("/missing").text == "replaced by app"


@dataclasses.dataclass
class Counter:
    started: int = 0
    hits: int = 0


async def test_lifespan_hooks_and_typed_state() -> None:
    log: list[str] = []
    app = App(state=Counter())
    app.add_blueprint(Hooked(log))

    @app.on_startup
    def start() -> None:
        app.state.started += 1
        log.append("app startup")

    @app.on_shutdown
    async def stop() -> None:
        log.append("app shutdown")

    async with Driver(app) as driver:
        assert log == ["app startup", "bp startup"]
        assert (await driver.request("GET", "/hooked")).body == b"handled"
    assert log[-2:] == ["bp shutdown", "app shutdown"]
    assert app.state.started == 1
    assert app.server_info is not None


async def test_startup_failure_propagates() -> None:
    app = App()

    @app.on_startup
    def fail() -> None:
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"):
        async with Driver(app):
            pass


def test_default_state_is_a_namespace() -> None:
    app, other = App(), App()
    assert type(app.state) is framework.State
    app.state.anything = 1
    assert app.state.anything == 1
    assert vars(other.state) == {}  # a namespace of its own, not one shared by every App


def test_sync_handlers_run_in_a_worker_thread() -> None:
    class Sync(framework.Blueprint):
        @framework.endpoint("/thread/{n:int}")
        def plain(self, n: int) -> dict[str, Any]:
            return {"n": n, "main": threading.current_thread() is threading.main_thread()}

        @framework.endpoint("/thread-request")
        def with_request(self, request: Request, q: int = 0) -> dict[str, Any]:
            return {"q": q, "path": request.path}

    client = TestClient(app_with(Sync()))
    assert client.get("/thread/3").json() == {"n": 3, "main": False}
    assert client.get("/thread-request?q=2").json() == {"q": 2, "path": "/thread-request"}


def test_add_endpoint_with_a_plain_function() -> None:
    app = App()

    async def ping(request: Request) -> dict[str, str]:
        return {"method": request.method}

    app.add_endpoint("/ping", ping, methods=["GET", "POST"], name="ping")
    client = TestClient(app)
    assert client.post("/ping").json() == {"method": "POST"}
    assert app.url_for("ping") == "/ping"


def test_file_response_is_prepared_with_the_request(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_bytes(b"0123456789")

    class Files(framework.Blueprint):
        @framework.endpoint("/file")
        async def file(self) -> responses.FileResponse:
            return responses.FileResponse(target)

    response = TestClient(app_with(Files())).get("/file", headers={"range": "bytes=2-4"})
    assert response.status_code == 206
    assert response.content == b"234"


def test_remove_blueprint() -> None:
    blueprint = Failing()
    app = app_with(blueprint)
    app.remove_blueprint(blueprint)
    assert TestClient(app).get("/teapot").status_code == 404
    with pytest.raises(framework.RouteError, match="was not added"):
        app.remove_blueprint(blueprint)


def test_adding_the_same_blueprint_twice_fails() -> None:
    blueprint = Failing()
    app = app_with(blueprint)
    with pytest.raises(framework.RouteError, match="already added"):
        app.add_blueprint(blueprint)


# -- extensions ------------------------------------------------------------------------------------------

EXTENSION = textwrap.dedent(
    """
    from pyre import framework

    VERSION = {version!r}
    torn_down = []


    class Versioned(framework.Blueprint):
        @framework.endpoint("/version")
        async def version(self) -> str:
            return VERSION


    def setup(app):
        app.add_blueprint(Versioned())


    def teardown(app):
        app.state.torn_down = VERSION
    """
)


@pytest.fixture
def extension_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("versioned_ext", "no_setup_ext", "broken_ext"):
        sys.modules.pop(name, None)


def write(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(source)
    sys.modules.pop(name, None)


def test_load_unload_reload_extension(extension_dir: Path) -> None:
    write(extension_dir, "versioned_ext", EXTENSION.format(version="one"))
    app = App()
    client = TestClient(app)
    app.load_extension("versioned_ext")
    assert client.get("/version").text == "one"
    assert list(app.extensions) == ["versioned_ext"]
    with pytest.raises(ExtensionError, match="already loaded"):
        app.load_extension("versioned_ext")

    write(extension_dir, "versioned_ext", EXTENSION.format(version="two"))
    app.reload_extension("versioned_ext")
    assert app.state.torn_down == "one"
    assert client.get("/version").text == "two"

    app.unload_extension("versioned_ext")
    assert app.state.torn_down == "two"
    assert client.get("/version").status_code == 404
    assert app.blueprints == []
    with pytest.raises(ExtensionError, match="not loaded"):
        app.unload_extension("versioned_ext")


def test_failed_reload_keeps_the_old_extension(extension_dir: Path) -> None:
    write(extension_dir, "versioned_ext", EXTENSION.format(version="one"))
    app = App()
    app.load_extension("versioned_ext")
    write(extension_dir, "versioned_ext", "def setup(app):\n    raise RuntimeError('broken')\n")
    with pytest.raises(RuntimeError, match="broken"):
        app.reload_extension("versioned_ext")
    assert TestClient(app).get("/version").text == "one"
    assert "versioned_ext" in app.extensions


def test_extension_errors(extension_dir: Path) -> None:
    write(extension_dir, "no_setup_ext", "X = 1\n")
    app = App()
    with pytest.raises(ExtensionError, match="no setup"):
        app.load_extension("no_setup_ext")
    with pytest.raises(ExtensionError, match="cannot import"):
        app.load_extension("does_not_exist_ext")
    write(extension_dir, "broken_ext", EXTENSION.format(version="x") + "\nsetup = lambda app: 1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        app.load_extension("broken_ext")
    assert app.extensions == {}


async def test_async_client_runs_the_lifespan() -> None:
    log: list[str] = []
    app = app_with(Hooked(log))
    async with AsyncTestClient(app) as client:
        assert log == ["bp startup"]
        assert (await client.get("/hooked")).text == "handled"
    assert log[-1] == "bp shutdown"


def test_app_is_a_pyre_spec_application_with_lifespan() -> None:
    app: pyre.spec.Application = App()
    assert isinstance(app, pyre.spec.HasLifespan)


def test_exception_from_app_middleware_is_handled() -> None:
    async def broken(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        raise LookupError("middleware bug")

    app = App(middleware=[broken])
    app.add_blueprint(Failing())
    assert TestClient(app).get("/teapot").status_code == 500
    app.add_exception_handler(LookupError, lambda request, exc: ("looked", 409))
    response = TestClient(app).get("/teapot")
    assert (response.status_code, response.text) == (409, "looked")


def test_a_middleware_catching_framework_errors_does_not_swallow_http_exceptions() -> None:
    caught: list[Exception] = []

    async def guard(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        try:
            return await call_next(request)
        except framework.FrameworkError as error:
            caught.append(error)
            return responses.TextResponse("swallowed", status=500)

    class Refusing(framework.Blueprint):
        middleware = (guard,)

        @framework.endpoint("/refuse")
        async def refuse(self) -> str:
            raise HTTPException(403)

        @framework.endpoint("/double")
        async def double(self, n: int) -> int:
            return 2 * n

    client = TestClient(app_with(Refusing()))
    assert client.get("/refuse").json() == {"detail": "Forbidden"}
    assert client.get("/double?n=x").status_code == 422
    assert caught == []


def test_validation_errors_can_be_reshaped() -> None:
    class Numbers(framework.Blueprint):
        @framework.endpoint("/double")
        async def double(self, n: int) -> str:
            return str(2 * n)

    app = app_with(Numbers())

    @app.exception_handler(framework.RequestValidationError)
    def flat(request: Request, exc: framework.RequestValidationError) -> tuple[dict[str, Any], int]:
        return {"errors": [error["msg"] for error in exc.errors]}, 400

    response = TestClient(app).get("/double?n=x")
    assert (response.status_code, response.json()) == (400, {"errors": ["not a valid integer"]})


def test_blueprint_handler_errors_fall_back_to_the_app() -> None:
    class Escalating(framework.Blueprint):
        @framework.endpoint("/escalate")
        async def escalate(self) -> str:
            raise ValueError("first")

        @framework.exception_handler(ValueError)
        def on_value(self, request: Request, exc: ValueError) -> str:
            raise HTTPException(503, "handled upstream")

    response = TestClient(app_with(Escalating())).get("/escalate")
    assert response.status_code == 503
    assert response.json() == {"detail": "handled upstream"}


def test_head_and_sync_handlers_with_blueprint_hooks() -> None:
    log: list[str] = []

    class SyncHooked(Hooked):
        @framework.endpoint("/sync")
        def sync(self) -> str:
            return "sync"

    client = TestClient(app_with(SyncHooked(log)))
    response = client.head("/sync")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["x-after"] == "bp"


class BadHeaderName(framework.Blueprint):
    @framework.endpoint("/kelvin")
    async def kelvin(self) -> str:
        # U+212A KELVIN SIGN: str.lower() makes it "k", a valid name it never was.
        raise HTTPException(401, headers={"\u212aey": "1", "X-Pot": "1"})


def test_http_exception_header_names_fold_ascii_only() -> None:
    # The app's bug surfaces (the server answers 500) instead of a "key" field on the wire.
    with pytest.raises(UnicodeEncodeError):
        TestClient(app_with(BadHeaderName())).get("/kelvin")
