"""Middleware: app -> blueprint -> endpoint, outside-in; short-circuits and rewrites."""

from __future__ import annotations

from typing import Any

import pyre.spec
from pyre import framework
from pyre.framework import App, CallNext, Request, responses
from pyre.framework.testing import TestClient


class Trace:
    """Records its name on the way in and out, in a header the response carries back."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        self.log.append(f"{self.name}>")
        response = await call_next(request)
        self.log.append(f"<{self.name}")
        return response


def build(log: list[str]) -> App[Any]:
    class Traced(framework.Blueprint):
        middleware = (Trace("bp1", log), Trace("bp2", log))

        @framework.endpoint("/traced", middleware=[Trace("ep1", log), Trace("ep2", log)])
        async def traced(self) -> str:
            log.append("handler")
            return "ok"

        @framework.endpoint("/bare")
        async def bare(self) -> str:
            log.append("handler")
            return "bare"

    app = App(middleware=[Trace("app1", log)])
    app.add_middleware(Trace("app2", log))
    app.add_blueprint(Traced())
    return app


def test_order_is_app_then_blueprint_then_endpoint() -> None:
    log: list[str] = []
    assert TestClient(build(log)).get("/traced").text == "ok"
    assert log == [
        "app1>",
        "app2>",
        "bp1>",
        "bp2>",
        "ep1>",
        "ep2>",
        "handler",
        "<ep2",
        "<ep1",
        "<bp2",
        "<bp1",
        "<app2",
        "<app1",
    ]


def test_app_middleware_also_sees_404() -> None:
    log: list[str] = []
    assert TestClient(build(log)).get("/missing").status_code == 404
    assert log == ["app1>", "app2>", "<app2", "<app1"]


def test_blueprint_middleware_without_endpoint_middleware() -> None:
    log: list[str] = []
    TestClient(build(log)).get("/bare")
    assert log == ["app1>", "app2>", "bp1>", "bp2>", "handler", "<bp2", "<bp1", "<app2", "<app1"]


class Blocker:
    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        if request.headers.get("x-block"):
            return responses.TextResponse("blocked", status=403)
        return await call_next(request)


class AddPathParam:
    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        request.path_params["name"] = request.path_params["name"].upper()
        return await call_next(request)


class StampResponse:
    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        response = await call_next(request)
        response.headers = [*response.headers, (b"x-stamp", b"1")]
        return response


class Replace:
    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        await call_next(request)
        return responses.JSONResponse({"replaced": True})


class Tools(framework.Blueprint):
    @framework.endpoint("/guarded", middleware=[Blocker()])
    async def guarded(self) -> str:
        return "open"

    @framework.endpoint("/shout/{name}", middleware=[StampResponse(), AddPathParam()])
    async def shout(self, name: str) -> str:
        return name

    @framework.endpoint("/replaced", middleware=[Replace()])
    async def replaced(self) -> str:
        return "original"


def tools() -> TestClient:
    app = App()
    app.add_blueprint(Tools())
    return TestClient(app)


def test_short_circuit() -> None:
    client = tools()
    blocked = client.get("/guarded", headers={"x-block": "1"})
    assert (blocked.status_code, blocked.text) == (403, "blocked")
    assert client.get("/guarded").text == "open"


def test_modify_request_and_response() -> None:
    response = tools().get("/shout/ada")
    assert response.text == "ADA"
    assert response.headers["x-stamp"] == "1"


def test_replace_response() -> None:
    assert tools().get("/replaced").json() == {"replaced": True}


def test_function_middleware() -> None:
    async def timing(request: Request, call_next: CallNext) -> pyre.spec.Response:
        response = await call_next(request)
        response.headers = [*response.headers, (b"x-seen", request.path.encode())]
        return response

    app = App(middleware=[timing])
    app.add_blueprint(Tools())
    assert TestClient(app).get("/guarded").headers["x-seen"] == "/guarded"


def test_endpoints_without_middleware_are_called_directly() -> None:
    log: list[str] = []
    app = build(log)
    endpoints = {registration.name: registration.endpoint for registration in app.router.registrations}
    assert not endpoints["Traced.traced"].direct
    assert not endpoints["Traced.bare"].direct  # the blueprint has middleware
    plain = App()
    plain.add_blueprint(Tools())
    plain.prepare()
    assert plain._entry is None  # no app middleware: no Request is built before routing


def test_middleware_added_later_is_used() -> None:
    log: list[str] = []
    app = App()
    app.add_blueprint(Tools())
    client = TestClient(app)
    assert client.get("/guarded").text == "open"
    app.add_middleware(Trace("late", log))
    assert client.get("/guarded").text == "open"
    assert log == ["late>", "<late"]
