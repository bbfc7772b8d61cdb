"""is_asgi_app tells ASGI 3 / ASGI 2 callables from pyre-spec applications."""

from __future__ import annotations

import functools
from typing import Any

from pyre.asgi import from_asgi, is_asgi_app, to_asgi
from pyre.spec import Request, Response
from pyre.spec.testing import Driver


async def asgi3(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"asgi3"})


async def pyre_app(request: Request) -> Response:
    return Response(200, body=b"pyre")


class ASGI3Object:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asgi3(scope, receive, send)


class PyreObject:
    async def __call__(self, request: Request) -> Response:
        return Response(200)


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": self.scope["path"].encode()})


def asgi2_function(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201})
        await send({"type": "http.response.body", "body": b"asgi2 function"})

    return instance


class NotAnApp:
    pass


def test_asgi3_callables_are_asgi() -> None:
    assert is_asgi_app(asgi3)
    assert is_asgi_app(ASGI3Object())
    assert is_asgi_app(functools.partial(asgi3))


def test_asgi2_class_is_asgi() -> None:
    assert is_asgi_app(ASGI2Class)


def test_pyre_apps_are_not_asgi() -> None:
    assert not is_asgi_app(pyre_app)
    assert not is_asgi_app(PyreObject())
    assert not is_asgi_app(PyreObject)  # a class whose instances take a request is not ASGI 2


def test_non_apps_are_not_asgi() -> None:
    assert not is_asgi_app(NotAnApp)
    assert not is_asgi_app(42)
    assert not is_asgi_app(len)


def test_the_bridges_are_what_they_produce() -> None:
    assert is_asgi_app(to_asgi(pyre_app))
    assert not is_asgi_app(from_asgi(asgi3))


def test_asgiref_markers_win() -> None:
    def marked(request: Any) -> Any:
        raise NotImplementedError

    marked._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_asgi_app(marked)


async def test_from_asgi_runs_asgi2_class() -> None:
    async with Driver(from_asgi(ASGI2Class)) as driver:
        response = await driver.request("GET", "/two")
    assert (response.status, response.body) == (200, b"/two")


async def test_from_asgi_runs_asgi2_function() -> None:
    async with Driver(from_asgi(asgi2_function)) as driver:
        response = await driver.request("GET", "/")
    assert (response.status, response.body) == (201, b"asgi2 function")


class AwaitableEndpoint:
    """Starlette's ``HTTPEndpoint``/``WebSocketEndpoint`` shape: ``await Endpoint(scope, receive, send)``."""

    def __init__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope, self.send = scope, send

    def __await__(self) -> Any:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        await self.send({"type": "http.response.start", "status": 200})
        await self.send({"type": "http.response.body", "body": b"awaited " + self.scope["path"].encode()})


def test_a_class_with_awaitable_instances_is_asgi3() -> None:
    assert is_asgi_app(AwaitableEndpoint)


async def test_from_asgi_awaits_an_awaitable_instance_class() -> None:
    async with Driver(from_asgi(AwaitableEndpoint)) as driver:
        response = await driver.request("GET", "/endpoint")
    assert (response.status, response.body) == (200, b"awaited /endpoint")
