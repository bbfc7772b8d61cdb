"""The application: blueprints, extensions, hooks, error handling and lifespan.

How one request flows, outermost first::

    App.__call__
    └── app middleware (first in the list is outermost)
        └── app before/after hooks
            └── errors -> responses (app exception handlers, then the defaults)
                └── router: 404, 405 with Allow, automatic OPTIONS
                    └── blueprint before/after hooks          ┐ composed once per
                        └── blueprint middleware              │ endpoint, and only when
                            └── endpoint middleware           │ there is something to
                                └── parameters bound, handler │ compose
                                    called, result coerced    ┘

An endpoint whose handler takes only its path parameters, with no middleware,
hooks or blueprint exception handlers, is called directly with the values the
router converted; unless the app has middleware or hooks, no ``Request`` object
is built for it at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import logging
import sys
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, overload

import orjson

import pyre.spec

from .blueprints import Blueprint, EndpointInfo, members
from .exceptions import ExtensionError, HTTPException, RouteError
from .middleware import CallNext, Middleware, compose
from .params import Plan, plan_for
from .requests import Request
from .responses import RequestAwareResponse, to_response
from .routing import Route, Router, Segment, compile_pattern, decode_segments, parameter_names
from .types import AfterHook, BeforeHook, ExceptionHandler, ExceptionKey, Handler, LifespanHook

logger = logging.getLogger("pyre.framework")

StateT = TypeVar("StateT")


class State(types.SimpleNamespace):
    """The default application state: set any attribute on it."""


ErrorHandlers = dict[ExceptionKey, ExceptionHandler]


@dataclass(eq=False)
class _Hooks:
    before: list[BeforeHook] = field(default_factory=list)
    after: list[AfterHook] = field(default_factory=list)
    startup: list[LifespanHook] = field(default_factory=list)
    shutdown: list[LifespanHook] = field(default_factory=list)
    errors: ErrorHandlers = field(default_factory=dict)


@dataclass(eq=False)
class _Attached:
    """A blueprint added to the app, and what it brought."""

    blueprint: Blueprint
    hooks: _Hooks
    extension: str | None


class Endpoint:
    """One handler registered for a pattern and methods, ready to be called."""

    def __init__(
        self,
        app: App[Any],
        *,
        pattern: str,
        segments: tuple[Segment, ...],
        methods: tuple[str, ...],
        handler: Handler,
        name: str,
        middleware: Sequence[Middleware] = (),
        include_in_schema: bool = True,
        attached: _Attached | None = None,
    ) -> None:
        self.app = app
        self.pattern = pattern
        self.segments = segments
        self.methods = methods
        self.handler = handler
        self.name = name
        self.middleware = tuple(middleware)
        self.include_in_schema = include_in_schema
        self.attached = attached
        self.path_names = parameter_names(segments)
        self.plan: Plan = plan_for(handler, self.path_names)
        self.is_async = inspect.iscoroutinefunction(handler)
        self.call: Callable[..., Awaitable[Any]] = (
            handler if self.is_async else functools.partial(asyncio.to_thread, handler)
        )
        """The handler as a coroutine function: a sync one runs in a worker thread."""
        self._chain: CallNext = self._invoke
        self._errors: ErrorHandlers = {}
        self.direct = False
        """Whether the app may ``call`` the handler with the path values alone and coerce its result;
        otherwise it goes through ``run``."""
        self.prepare()

    @property
    def blueprint(self) -> Blueprint | None:
        return None if self.attached is None else self.attached.blueprint

    def prepare(self) -> None:
        """Compose this endpoint's chain and pick the cheapest way to call it."""
        layers: list[Middleware] = []
        if self.attached is not None:
            hooks = self.attached.hooks
            self._errors = hooks.errors
            if hooks.before or hooks.after:
                layers.append(HookLayer(hooks.before, hooks.after))
            layers.extend(self.attached.blueprint.middleware)
        layers.extend(self.middleware)
        self.direct = not layers and not self._errors and self.plan.path_only
        self._chain = compose(layers, self._invoke)

    def run(
        self, spec: pyre.spec.Request, request: Request | None, values: list[Any]
    ) -> Awaitable[pyre.spec.Response]:
        """The response, through the endpoint's hooks, middleware and error handlers."""
        path_params = dict(zip(self.path_names, values, strict=True))
        if request is None:
            request = Request(spec, app=self.app, path_params=path_params)
        else:
            request.path_params = path_params
        return self._run_handling_errors(request) if self._errors else self._chain(request)

    async def _run_handling_errors(self, request: Request) -> pyre.spec.Response:
        try:
            return await self._chain(request)
        except Exception as exc:
            handler = find_handler(self._errors, exc)
            if handler is None:
                raise
            return await call_error_handler(handler, request, exc)

    async def _invoke(self, request: Request) -> pyre.spec.Response:
        if self.plan.path_only:
            path_params = request.path_params
            args: list[Any] = [path_params[name] for name in self.path_names]
            kwargs: dict[str, Any] = {}
        else:
            args, kwargs = await self.plan.bind(request)
        result = await self.call(*args, **kwargs)
        if isinstance(result, RequestAwareResponse):
            await result.prepare(request)
            return result
        return to_response(result)

    def __repr__(self) -> str:
        return f"<Endpoint {self.name} {'|'.join(self.methods)} {self.pattern}>"


class HookLayer:
    """Before and after hooks as one middleware layer."""

    def __init__(self, before: Sequence[BeforeHook], after: Sequence[AfterHook]) -> None:
        self.before = tuple(before)
        self.after = tuple(after)

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        response: pyre.spec.Response | None = None
        for hook in self.before:
            early = await _maybe_await(hook(request))
            if early is not None:
                response = to_response(early)
                break
        if response is None:
            response = await call_next(request)
        for after in self.after:
            replaced = await _maybe_await(after(request, response))
            if replaced is not None:
                response = to_response(replaced)
        return response


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def find_handler(handlers: ErrorHandlers, exc: BaseException) -> ExceptionHandler | None:
    """The handler registered for ``exc``'s status (``HTTPException``) or its closest class."""
    if isinstance(exc, HTTPException):
        handler = handlers.get(exc.status)
        if handler is not None:
            return handler
    for klass in type(exc).__mro__:
        handler = handlers.get(klass)
        if handler is not None:
            return handler
    return None


async def call_error_handler(
    handler: ExceptionHandler, request: Request, exc: Exception
) -> pyre.spec.Response:
    return to_response(await _maybe_await(handler(request, exc)))


def error_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> pyre.spec.Response:
    """The default error page: ``{"detail": ...}`` as JSON."""
    raw = [(b"content-type", b"application/json")]
    if headers:
        raw.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        )
    return pyre.spec.Response(status, raw, orjson.dumps({"detail": detail}))


def default_error_response(exc: Exception) -> pyre.spec.Response:
    """What an unhandled exception becomes; nothing about the code leaks to the client."""
    if isinstance(exc, HTTPException):
        return error_response(exc.status, exc.detail, exc.headers)
    if isinstance(exc, pyre.spec.RequestBodyTooLarge):
        return error_response(413, f"request body exceeds {exc.limit} bytes")
    if isinstance(exc, pyre.spec.ClientDisconnected):
        raise exc  # nobody is left to answer; the server closes the connection
    logger.error("unhandled exception while handling a request", exc_info=exc)
    return error_response(500, "Internal Server Error")


class App(Generic[StateT]):
    """A pyre-spec application assembled from blueprints and extensions.

    ``middleware`` wraps every request, first entry outermost.  With
    ``openapi_url`` the OpenAPI 3.1 document is served there.  ``state`` is the
    typed application state, ``app.state`` (a ``State`` namespace by default).
    """

    @overload
    def __init__(
        self: App[State],
        *,
        middleware: Sequence[Middleware] = (),
        openapi_url: str | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        state: None = None,
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        middleware: Sequence[Middleware] = (),
        openapi_url: str | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        state: StateT,
    ) -> None: ...
    def __init__(
        self,
        *,
        middleware: Sequence[Middleware] = (),
        openapi_url: str | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        state: Any = None,
    ) -> None:
        self.state: StateT = cast(StateT, State() if state is None else state)
        self.title = title
        self.version = version
        self.openapi_url = openapi_url
        self.middleware: list[Middleware] = list(middleware)
        self.router: Router[Endpoint] = Router()
        self.server_info: pyre.spec.ServerInfo | None = None
        self._hooks = _Hooks()
        self._attached: list[_Attached] = []
        self._extensions: dict[str, types.ModuleType] = {}
        self._loading: str | None = None
        self._entry: CallNext | None = None
        self._stale = True
        self._openapi: bytes | None = None
        if openapi_url is not None:
            self.add_endpoint(openapi_url, self._serve_openapi, name="openapi", include_in_schema=False)

    # -- serving ----------------------------------------------------------------------------------------

    def __call__(self, request: pyre.spec.Request) -> Awaitable[pyre.spec.Response]:
        # A plain method returning a coroutine (PYRE-APP-1 asks for an awaitable), like _dispatch and
        # _route below: between the server and the handler there is one coroutine frame, _serve.
        if self._stale:
            self.prepare()
        if self._entry is None:
            return self._serve(request, None)
        return self._serve_through_middleware(request, self._entry)

    async def _serve_through_middleware(self, spec: pyre.spec.Request, entry: CallNext) -> pyre.spec.Response:
        request = Request(spec, app=self)
        try:
            response = await entry(request)
            if isinstance(response, RequestAwareResponse):
                await response.prepare(request)  # made by a middleware; a no-op if prepared already
            return response
        except Exception as exc:
            # Raised by app middleware or hooks, outside the error handling they wrap.
            return await self._handle_error(spec, request, exc)

    def _route(self, request: Request) -> Awaitable[pyre.spec.Response]:
        """The innermost layer of the app middleware."""
        return self._serve(request.spec, request)

    async def _serve(self, spec: pyre.spec.Request, request: Request | None) -> pyre.spec.Response:
        """Route, call the endpoint, coerce what it returned; errors become responses."""
        try:
            result = await self._dispatch(spec, request)
            if isinstance(result, RequestAwareResponse):
                await result.prepare(request if request is not None else Request(spec, app=self))
                return result
            return to_response(result)
        except Exception as exc:
            return await self._handle_error(spec, request, exc)

    def _dispatch(self, spec: pyre.spec.Request, request: Request | None) -> Awaitable[Any]:
        """The awaitable of the endpoint's result, a response or a value to coerce."""
        method = spec.method
        raw_path = spec.raw_path
        if b"%" not in raw_path:
            # Without escapes, the path is raw_path read as UTF-8; decoding here spares the
            # server's unquoting, which a lazy request object would otherwise run for this.
            try:
                path = raw_path.decode()
            except UnicodeDecodeError:
                raise HTTPException(404) from None
            match = self.router.match(path, method)
            if match is None:
                return self._no_route(method, self.router.match(path, None))
        else:
            # Split before decoding (spec.path has "%2F" as "/"); see decode_segments.
            segments = decode_segments(raw_path)
            if segments is None:
                raise HTTPException(404)
            match = self.router.match_segments(segments, method)
            if match is None:
                return self._no_route(method, self.router.match_segments(segments, None))
        route, values = match
        endpoint = route.endpoints[method]
        if endpoint.direct:
            return endpoint.call(*values)
        return endpoint.run(spec, request, values)

    async def _no_route(
        self, method: str, other: tuple[Route[Endpoint], list[Any]] | None
    ) -> pyre.spec.Response:
        if other is None:
            raise HTTPException(404)
        allow = other[0].allow
        if method == "OPTIONS":
            return pyre.spec.Response(204, [(b"allow", allow.encode("ascii"))])
        raise HTTPException(405, headers={"Allow": allow})

    async def _handle_error(
        self, spec: pyre.spec.Request, request: Request | None, exc: Exception
    ) -> pyre.spec.Response:
        handler = find_handler(self._hooks.errors, exc)
        if handler is None:
            return default_error_response(exc)
        if request is None:
            request = Request(spec, app=self)
        try:
            return await call_error_handler(handler, request, exc)
        except Exception as failure:
            return default_error_response(failure)

    def prepare(self) -> None:
        """Compose every middleware chain; done before the first request and after any change."""
        for registration in self.router.registrations:
            registration.endpoint.prepare()
        layers = list(self.middleware)
        if self._hooks.before or self._hooks.after:
            layers.append(HookLayer(self._hooks.before, self._hooks.after))
        self._entry = compose(layers, self._route) if layers else None
        self._openapi = None
        self._stale = False

    @contextlib.asynccontextmanager
    async def lifespan(self, server: pyre.spec.ServerInfo, state: pyre.spec.State) -> AsyncIterator[None]:
        """Startup: app hooks, then each blueprint's; shutdown in the reverse order."""
        self.server_info = server
        self.prepare()
        groups = [self._hooks, *(attached.hooks for attached in self._attached)]
        for hooks in groups:
            for hook in hooks.startup:
                await _maybe_await(hook())
        try:
            yield
        finally:
            for hooks in reversed(groups):
                for hook in reversed(hooks.shutdown):
                    await _maybe_await(hook())

    # -- building the app --------------------------------------------------------------------------------

    def add_endpoint(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] = ("GET",),
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] = (),
        include_in_schema: bool = True,
    ) -> None:
        """Register a plain function (or any callable) as an endpoint, outside any blueprint."""
        info = EndpointInfo(
            path, tuple(method.upper() for method in methods), name, tuple(middleware), include_in_schema
        )
        self._register(info, handler, getattr(handler, "__qualname__", repr(handler)), None)

    def _register(
        self, info: EndpointInfo, handler: Handler, default_name: str, attached: _Attached | None
    ) -> None:
        prefix = attached.blueprint.prefix if attached is not None else ""
        pattern = prefix.rstrip("/") + info.path if prefix else info.path
        annotations = _annotations(handler)
        segments = compile_pattern(pattern, annotations)
        endpoint = Endpoint(
            self,
            pattern=pattern,
            segments=segments,
            methods=info.methods,
            handler=handler,
            name=info.name or default_name,
            middleware=info.middleware,
            include_in_schema=info.include_in_schema,
            attached=attached,
        )
        self.router.add(pattern, segments, info.methods, endpoint, endpoint.name)
        self._stale = True

    def add_blueprint(self, blueprint: Blueprint) -> None:
        """Register the blueprint's endpoints and hooks; on any error nothing of it is kept."""
        if any(attached.blueprint is blueprint for attached in self._attached):
            raise RouteError(f"{blueprint!r} is already added")
        attached = _Attached(blueprint, _Hooks(), self._loading)
        try:
            for member in members(blueprint):
                if member.hook is not None:
                    _add_hook(attached.hooks, member.hook, member.function)
                for info in member.endpoints:
                    default_name = f"{type(blueprint).__name__}.{member.attribute}"
                    self._register(info, member.function, default_name, attached)
        except Exception:
            self.router.remove(lambda endpoint: endpoint.attached is not attached)
            raise
        self._attached.append(attached)
        self._stale = True

    def remove_blueprint(self, blueprint: Blueprint) -> None:
        """Unregister the blueprint's endpoints and hooks."""
        found = [attached for attached in self._attached if attached.blueprint is blueprint]
        if not found:
            raise RouteError(f"{blueprint!r} was not added")
        self._attached.remove(found[0])
        self.router.remove(lambda endpoint: endpoint.attached is not found[0])
        self._stale = True

    @property
    def blueprints(self) -> list[Blueprint]:
        return [attached.blueprint for attached in self._attached]

    def add_middleware(self, middleware: Middleware) -> None:
        """Add app middleware inside the ones already added."""
        self.middleware.append(middleware)
        self._stale = True

    def url_for(self, name: str, /, **parameters: Any) -> str:
        """The path of endpoint ``name`` with ``parameters`` formatted by their converters."""
        return self.router.url_path(name, parameters)

    # -- hooks (usable as decorators) --------------------------------------------------------------------

    def on_startup(self, hook: LifespanHook) -> LifespanHook:
        self._hooks.startup.append(hook)
        return hook

    def on_shutdown(self, hook: LifespanHook) -> LifespanHook:
        self._hooks.shutdown.append(hook)
        return hook

    def before_request(self, hook: BeforeHook) -> BeforeHook:
        self._hooks.before.append(hook)
        self._stale = True
        return hook

    def after_request(self, hook: AfterHook) -> AfterHook:
        self._hooks.after.append(hook)
        self._stale = True
        return hook

    def add_exception_handler(self, key: ExceptionKey, handler: ExceptionHandler) -> None:
        """Handle exceptions of class ``key`` and its subclasses, or ``HTTPException`` with status ``key``."""
        self._hooks.errors[key] = handler

    def exception_handler(self, *keys: ExceptionKey) -> Callable[[ExceptionHandler], ExceptionHandler]:
        """Decorator form of ``add_exception_handler``."""

        def register(handler: ExceptionHandler) -> ExceptionHandler:
            for key in keys:
                self.add_exception_handler(key, handler)
            return handler

        return register

    # -- extensions -------------------------------------------------------------------------------------

    @property
    def extensions(self) -> Mapping[str, types.ModuleType]:
        return types.MappingProxyType(self._extensions)

    def load_extension(self, name: str) -> None:
        """Import module ``name`` and call its ``setup(app)``.

        Blueprints added during ``setup`` belong to the extension and are
        removed when it is unloaded.
        """
        if name in self._extensions:
            raise ExtensionError(f"extension {name!r} is already loaded")
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ExtensionError(f"cannot import extension {name!r}: {error}") from error
        setup = getattr(module, "setup", None)
        if not callable(setup):
            sys.modules.pop(name, None)
            raise ExtensionError(f"extension {name!r} has no setup(app) function")
        self._loading = name
        try:
            setup(self)
        except Exception:
            self._drop_blueprints_of(name)
            sys.modules.pop(name, None)
            raise
        finally:
            self._loading = None
        self._extensions[name] = module

    def unload_extension(self, name: str) -> None:
        """Call the extension's ``teardown(app)`` if it has one, and remove its blueprints."""
        module = self._extensions.pop(name, None)
        if module is None:
            raise ExtensionError(f"extension {name!r} is not loaded")
        try:
            teardown = getattr(module, "teardown", None)
            if callable(teardown):
                teardown(self)
        finally:
            self._drop_blueprints_of(name)
            # The next load imports the module afresh.
            sys.modules.pop(name, None)

    def reload_extension(self, name: str) -> None:
        """Unload and load again; if loading the new code fails, the old extension is put back."""
        previous = self._extensions.get(name)
        if previous is None:
            raise ExtensionError(f"extension {name!r} is not loaded")
        self.unload_extension(name)
        try:
            self.load_extension(name)
        except Exception:
            sys.modules[name] = previous
            self._loading = name
            try:
                previous.setup(self)
            finally:
                self._loading = None
            self._extensions[name] = previous
            raise

    def _drop_blueprints_of(self, extension: str) -> None:
        for attached in [attached for attached in self._attached if attached.extension == extension]:
            self.remove_blueprint(attached.blueprint)

    # -- OpenAPI ----------------------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document describing every endpoint."""
        from .openapi import build_document

        return build_document(self)

    async def _serve_openapi(self) -> pyre.spec.Response:
        document = self._openapi
        if document is None:
            document = self._openapi = orjson.dumps(self.openapi())
        return pyre.spec.Response(200, [(b"content-type", b"application/json")], document)


def _add_hook(hooks: _Hooks, kind: Any, function: Callable[..., Any]) -> None:
    if isinstance(kind, tuple):
        for key in kind[1]:
            hooks.errors[key] = function
    else:
        getattr(hooks, kind).append(function)


def _annotations(handler: Handler) -> dict[str, Any]:
    try:
        return typing.get_type_hints(handler, include_extras=True)
    except Exception:
        return {}  # plan_for reports unresolvable annotations with the parameter's name
