"""pyre-framework: object-oriented routing, implicit converters and middleware on any pyre-spec server.

::

    from pyre import framework
    from pyre.framework import App, Request, responses

    class Hello(framework.Blueprint):
        @framework.endpoint("/hello/{name}")
        async def hello(self, name: str) -> str:
            return f"Hello, {name}!"

    app = App()
    app.add_blueprint(Hello())

Everything public is re-exported here; ``responses``, ``testing``,
``convertors``, ``middleware`` and ``staticfiles`` are modules of their own.
"""

from . import responses as responses
from .__about__ import __version__ as __version__
from .app import App as App
from .app import State as State
from .background import BackgroundTasks as BackgroundTasks
from .blueprints import Blueprint as Blueprint
from .blueprints import after_request as after_request
from .blueprints import before_request as before_request
from .blueprints import endpoint as endpoint
from .blueprints import exception_handler as exception_handler
from .blueprints import on_shutdown as on_shutdown
from .blueprints import on_startup as on_startup
from .blueprints import websocket as websocket
from .convertors import Converter as Converter
from .convertors import register_converter as register_converter
from .dependencies import Depends as Depends
from .exceptions import ConverterError as ConverterError
from .exceptions import ExtensionError as ExtensionError
from .exceptions import FrameworkError as FrameworkError
from .exceptions import HTTPException as HTTPException
from .exceptions import RequestValidationError as RequestValidationError
from .exceptions import RouteConflict as RouteConflict
from .exceptions import RouteError as RouteError
from .exceptions import URLBuildError as URLBuildError
from .middleware import CallNext as CallNext
from .middleware import Middleware as Middleware
from .params import Body as Body
from .params import Cookie as Cookie
from .params import Header as Header
from .params import Path as Path
from .params import Query as Query
from .requests import Request as Request
from .websockets import WebSocket as WebSocket
from .websockets import WebSocketDisconnect as WebSocketDisconnect

__all__ = [
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
]
