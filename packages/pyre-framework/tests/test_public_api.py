"""The public surface of ``pyre.framework``: changing it must be deliberate."""

from __future__ import annotations

import pyre.framework
from pyre import framework

EXPECTED = {
    "App",
    "BackgroundTasks",
    "Blueprint",
    "Body",
    "CallNext",
    "Converter",
    "ConverterError",
    "Cookie",
    "Depends",
    "ExtensionError",
    "FrameworkError",
    "HTTPException",
    "Header",
    "Middleware",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "RouteConflict",
    "RouteError",
    "State",
    "URLBuildError",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
    "after_request",
    "before_request",
    "endpoint",
    "exception_handler",
    "on_shutdown",
    "on_startup",
    "register_converter",
    "responses",
    "websocket",
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(framework.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(framework, name), name


def test_no_other_public_names() -> None:
    public = {name for name in vars(framework) if not name.startswith("_")}
    modules = {
        "app",
        "background",
        "blueprints",
        "convertors",
        "datastructures",
        "dependencies",
        "endpoints",
        "errors",
        "exceptions",
        "extensions",
        "formparsers",
        "middleware",
        "mounting",
        "params",
        "requests",
        "routing",
        "staticfiles",
        "templating",
        "types",
        "openapi",
        "testing",
        "websockets",
    }
    assert public - modules - EXPECTED == set()


def test_error_tree() -> None:
    # Run-time control flow and assembly-time usage errors have separate roots (as in httpx).
    assert framework.HTTPException.__bases__ == (Exception,)
    assert framework.FrameworkError.__bases__ == (Exception,)
    assert issubclass(framework.RequestValidationError, framework.HTTPException)
    assert not issubclass(framework.HTTPException, framework.FrameworkError)
    assert not issubclass(framework.FrameworkError, framework.HTTPException)
    assert issubclass(framework.RouteConflict, framework.RouteError)
    assert issubclass(framework.URLBuildError, LookupError)
    for error in (
        framework.RouteError,
        framework.ConverterError,
        framework.ExtensionError,
        framework.URLBuildError,
    ):
        assert issubclass(error, framework.FrameworkError)
    assert framework.HTTPException(404).detail == "Not Found"
    assert framework.HTTPException(599).detail == "Error"


def test_version() -> None:
    assert isinstance(pyre.framework.__version__, str)
    assert not hasattr(__import__("pyre"), "__file__") or __import__("pyre").__file__ is None
