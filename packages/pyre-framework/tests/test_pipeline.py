"""The request pipeline: one Request per exchange, one coercion where the handler returns."""

from __future__ import annotations

from typing import Any

import pytest

import pyre.spec
from pyre import framework
from pyre.framework import App, HTTPException, Request, responses
from pyre.framework.testing import TestClient
from pyre.spec.testing import MemoryRequest


class Counted(responses.RequestAwareResponse):
    """A RequestAwareResponse that counts how often it is prepared and with which requests."""

    __slots__ = ("prepared_with",)

    def __init__(self) -> None:
        super().__init__("counted")
        self.prepared_with: list[Request] = []

    async def prepare(self, request: Request) -> None:
        self.prepared_with.append(request)


def test_the_handler_and_the_app_error_handler_see_the_same_request() -> None:
    seen: list[Request] = []

    class Failing(framework.Blueprint):
        @framework.endpoint("/fail")
        async def fail(self, request: Request) -> str:
            seen.append(request)
            raise LookupError("gone")

    app = App()
    app.add_blueprint(Failing())

    @app.exception_handler(LookupError)
    def on_lookup(request: Request, exc: LookupError) -> tuple[str, int]:
        seen.append(request)
        return "handled", 409

    response = TestClient(app).get("/fail")
    assert (response.status_code, response.text) == (409, "handled")
    assert len(seen) == 2
    assert seen[0] is seen[1]


def test_app_middleware_the_handler_and_the_error_handler_share_one_request() -> None:
    seen: list[Request] = []

    async def outer(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        seen.append(request)
        return await call_next(request)

    class Failing(framework.Blueprint):
        @framework.endpoint("/fail")
        async def fail(self, request: Request) -> str:
            seen.append(request)
            raise HTTPException(418)

    app = App(middleware=[outer])
    app.add_blueprint(Failing())
    app.add_exception_handler(418, lambda request, exc: seen.append(request) or ("tea", 418))
    assert TestClient(app).get("/fail").text == "tea"
    assert len(seen) == 3
    assert seen[0] is seen[1] is seen[2]


async def test_a_handler_result_is_prepared_once() -> None:
    made: list[Counted] = []

    class Answers(framework.Blueprint):
        @framework.endpoint("/direct")
        async def direct(self) -> Counted:
            made.append(Counted())
            return made[-1]

        @framework.endpoint("/bound")
        async def bound(self, request: Request, n: int = 0) -> Counted:
            made.append(Counted())
            return made[-1]

    app = App()
    app.add_blueprint(Answers())
    for target in ("/direct", "/bound?n=1"):
        response = await app(MemoryRequest("GET", target))
        assert response is made[-1]
        assert len(made[-1].prepared_with) == 1, target


def test_the_automatic_answers_go_through_app_middleware() -> None:
    async def tag(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        response = await call_next(request)
        response.headers = [*response.headers, (b"x-tag", b"1")]
        return response

    class Only(framework.Blueprint):
        @framework.endpoint("/only")
        async def only(self) -> str:
            return "only"

    app = App(middleware=[tag])
    app.add_blueprint(Only())
    client = TestClient(app)
    missing = client.get("/missing")
    assert (missing.status_code, missing.headers.get("x-tag")) == (404, "1")
    wrong = client.post("/only")
    assert (wrong.status_code, wrong.headers["allow"], wrong.headers.get("x-tag")) == (
        405,
        "GET, HEAD, OPTIONS",
        "1",
    )
    options = client.options("/only")
    assert (options.status_code, options.headers.get("x-tag")) == (204, "1")


def test_a_converter_raising_something_else_is_a_logged_500() -> None:
    class Broken:
        def parse(self, value: str) -> Any:
            raise TypeError("converter bug")

        def format(self, value: Any) -> str:
            return str(value)

    class Marker:
        pass

    framework.register_converter(Marker, Broken(), name="broken_for_pipeline_test")
    app = App()
    app.add_endpoint("/b/{value:broken_for_pipeline_test}", lambda value: "never")
    app.add_exception_handler(TypeError, lambda request, exc: (f"handled: {exc}", 500))
    response = TestClient(app).get("/b/x")
    assert (response.status_code, response.text) == (500, "handled: converter bug")


def test_reason_phrases_are_rfc_9110s() -> None:
    assert HTTPException(413).detail == "Content Too Large"
    assert HTTPException(422).detail == "Unprocessable Content"
    assert HTTPException(404).detail == "Not Found"
    assert HTTPException(599).detail == "Error"


class Shapes(framework.Blueprint):
    @framework.endpoint("/direct/{n:int}")
    async def direct(self, n: int) -> str:
        return str(n)

    @framework.endpoint("/file")
    async def file(self) -> responses.FileResponse:
        return responses.FileResponse(__file__)

    @framework.endpoint("/bound")
    async def bound(self, request: Request, fail: bool = False) -> str:
        if fail:
            raise LookupError("failed")
        return request.method


@pytest.mark.parametrize(
    ("middleware", "handled", "target", "built"),
    [
        (False, False, "/direct/1", 0),
        (False, False, "/missing", 0),
        (False, False, "/file", 1),  # FileResponse.prepare reads the request's validators
        (False, False, "/bound", 1),
        (False, True, "/bound?fail=true", 1),  # the handler's Request reaches the error handler
        (False, True, "/missing", 1),  # built for the app's 404 handler only
        (True, False, "/direct/1", 1),
        (True, True, "/bound?fail=true", 1),
    ],
)
def test_requests_built_per_exchange(
    monkeypatch: pytest.MonkeyPatch, middleware: bool, handled: bool, target: str, built: int
) -> None:
    async def passthrough(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        return await call_next(request)

    app = App(middleware=[passthrough] if middleware else [])
    app.add_blueprint(Shapes())
    if handled:
        app.add_exception_handler(LookupError, lambda request, exc: ("handled", 409))
        app.add_exception_handler(404, lambda request, exc: ("handled", 404))
    client = TestClient(app)
    count = [0]
    original = Request.__init__

    def counting(self: Request, *args: Any, **kwargs: Any) -> None:
        count[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(Request, "__init__", counting)
    response = client.get(target)
    assert response.status_code in (200, 404, 409)
    assert count[0] == built
