"""The application: the request pipeline, and the API that assembles an app.

One exchange, outermost first::

    pyre.spec.Request in
      │
      ▼
    App.__call__ ──────────────── app middleware or hooks?
      │ no                          │ yes: the exchange's Request is built here
      │                             ▼
      │                           app middleware, first entry outermost
      │                             └─ app before/after hooks
      ▼                             ▼
    App._dispatch: router.match_path(raw_path, method), raw_path split while still encoded
      ├─ no endpoint ────────────── 404, 405 with Allow, or the automatic OPTIONS 204
      └─ Endpoint.respond (endpoints.py)
           ├─ direct ────────────── handler(*path values)
           └─ chain ─────────────── the Request built now unless it exists; blueprint hooks,
                                    blueprint middleware, endpoint middleware, parameters
                                    bound (params.py), handler
           coercion: the handler's result -> to_response -> RequestAwareResponse.prepare, once
           errors: blueprint exception handlers, then the app's (App._handle_error, errors.py)
      │
      ▼
    pyre.spec.Response out

Errors raised inside the app middleware are answered there, so middleware see
error responses like any other; only an error raised by app middleware or
hooks themselves reaches the outermost handler.  At most one ``Request`` is
built per exchange, and none for a direct endpoint without app middleware or
hooks unless its result or an app exception handler needs one.

Endpoints live in ``endpoints.py``, the error policy in ``errors.py``,
extensions in ``extensions.py``, the OpenAPI document in ``openapi.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast, overload

import orjson

import pyre.spec

from .background import BackgroundTasks
from .blueprints import Blueprint, EndpointInfo, members
from .dependencies import DependencyOverrides
from .endpoints import Attached, Endpoint, HookLayer, Hooks
from .errors import call_error_handler, default_error_response, find_handler
from .exceptions import HTTPException, RouteError, URLBuildError
from .extensions import Extensions
from .middleware import CallNext, Middleware, compose
from .mounting import Mount
from .openapi import SWAGGER_UI_CSS, SWAGGER_UI_JS, docs_page
from .requests import Request
from .responses import HTMLResponse, RequestAwareResponse
from .routing import Router, compile_pattern
from .types import AfterHook, BeforeHook, ExceptionHandler, ExceptionKey, Handler, LifespanHook, maybe_await
from .websockets import WebSocketEndpoint

StateT = TypeVar("StateT")


class State(types.SimpleNamespace):
    """The default application state: set any attribute on it."""


class App(Generic[StateT]):
    """A pyre-spec application assembled from blueprints and extensions.

    ``middleware`` wraps every request, first entry outermost.  With
    ``openapi_url`` the OpenAPI 3.1 document is served there, and with
    ``docs_url`` too a Swagger UI page that renders it (its script and
    stylesheet from ``docs_js_url`` and ``docs_css_url``, a CDN by default).
    ``security_schemes`` are the document's ``components/securitySchemes``.
    ``state`` is the typed application state, ``app.state`` (a ``State``
    namespace by default).
    """

    @overload
    def __init__(
        self: App[State],
        *,
        middleware: Sequence[Middleware] = (),
        openapi_url: str | None = None,
        docs_url: str | None = None,
        docs_js_url: str = SWAGGER_UI_JS,
        docs_css_url: str = SWAGGER_UI_CSS,
        security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
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
        docs_url: str | None = None,
        docs_js_url: str = SWAGGER_UI_JS,
        docs_css_url: str = SWAGGER_UI_CSS,
        security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        state: StateT,
    ) -> None: ...
    def __init__(
        self,
        *,
        middleware: Sequence[Middleware] = (),
        openapi_url: str | None = None,
        docs_url: str | None = None,
        docs_js_url: str = SWAGGER_UI_JS,
        docs_css_url: str = SWAGGER_UI_CSS,
        security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        state: Any = None,
    ) -> None:
        self.state: StateT = cast(StateT, State() if state is None else state)
        self.title = title
        self.version = version
        self.openapi_url = openapi_url
        self.security_schemes: dict[str, Mapping[str, Any]] = dict(security_schemes or {})
        self.mounts: list[Mount] = []
        self.middleware: list[Middleware] = list(middleware)
        self.router: Router[Endpoint] = Router()
        self.server_info: pyre.spec.ServerInfo | None = None
        self._hooks = Hooks()
        self._attached: list[Attached] = []
        self._extensions = Extensions(self, drop=self._drop_blueprints_of)
        self._entry: CallNext | None = None
        self._stale = True
        self._openapi: bytes | None = None
        self._dependency_overrides = DependencyOverrides(self._invalidate)
        self._background: set[asyncio.Task[None]] = set()
        """The background tasks still running, awaited at shutdown."""
        if openapi_url is not None:
            self.add_endpoint(openapi_url, self._serve_openapi, name="openapi", include_in_schema=False)
        if docs_url is not None:
            if openapi_url is None:
                raise ValueError("docs_url needs an openapi_url: the page renders that document")
            self._docs_assets = (docs_js_url, docs_css_url)
            self.add_endpoint(docs_url, self._serve_docs, name="docs", include_in_schema=False)

    # -- serving ----------------------------------------------------------------------------------------

    def __call__(self, request: pyre.spec.Request) -> Awaitable[pyre.spec.Response]:
        # A plain method returning a coroutine (PYRE-APP-1 asks for an awaitable), like _dispatch: between
        # the server and a direct handler there is one coroutine frame, Endpoint.respond.
        if self._stale:
            self.prepare()
        entry = self._entry
        if entry is None:
            return self._dispatch(request, None)
        return self._through_layers(Request(request, app=self), entry)

    async def _through_layers(self, request: Request, entry: CallNext) -> pyre.spec.Response:
        try:
            response = await entry(request)
            if isinstance(response, RequestAwareResponse):
                await response.prepare(request)  # made by a middleware; a no-op if prepared already
            return response
        except Exception as exc:
            # Raised by app middleware or hooks, outside the error handling they wrap.
            return await self._handle_error(exc, request.spec, request)

    def _route(self, request: Request) -> Awaitable[pyre.spec.Response]:
        """The innermost layer of the app middleware."""
        return self._dispatch(request.spec, request)

    def _dispatch(self, spec: pyre.spec.Request, request: Request | None) -> Awaitable[pyre.spec.Response]:
        """The awaitable response of the endpoint that answers ``spec``, or of the error page."""
        method = spec.method
        try:
            found = self.router.match_path(spec.raw_path, method)
        except Exception as exc:  # a converter that raised something other than ValueError
            return self._handle_error(exc, spec, request)
        if found is None:
            return self._unmatched(spec, request)
        route, values = found
        return route.endpoints[method].respond(spec, request, values)

    async def _unmatched(self, spec: pyre.spec.Request, request: Request | None) -> pyre.spec.Response:
        """The mounted application under whose prefix the path is; else 404, 405 with ``Allow`` when
        other methods answer the path, or the automatic ``OPTIONS``."""
        for mount in self.mounts:
            remainder = mount.remainder(spec.raw_path)
            if remainder is not None:
                try:
                    return await mount(spec, remainder)
                except Exception as exc:
                    return await self._handle_error(exc, spec, request)
        other = self.router.match_path(spec.raw_path, None)
        if other is None:
            return await self._handle_error(HTTPException(404), spec, request)
        allow = other[0].allow
        if spec.method == "OPTIONS":
            return pyre.spec.Response(204, [(b"allow", allow.encode("ascii"))])
        return await self._handle_error(HTTPException(405, headers={"Allow": allow}), spec, request)

    async def _handle_error(
        self, exc: Exception, spec: pyre.spec.Request, request: Request | None
    ) -> pyre.spec.Response:
        """The response to ``exc``: the app's exception handler for it (given the exchange's ``Request``,
        built now if there is none yet), or the default error page."""
        handler = find_handler(self._hooks.errors, exc)
        if handler is None:
            return default_error_response(exc)
        try:
            return await call_error_handler(handler, request or Request(spec, app=self), exc)
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

    def _start_background(self, tasks: BackgroundTasks) -> None:
        """Run one response's background tasks in a task of their own, kept until they are done."""
        task = asyncio.get_running_loop().create_task(tasks.run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @contextlib.asynccontextmanager
    async def lifespan(self, server: pyre.spec.ServerInfo, state: pyre.spec.State) -> AsyncIterator[None]:
        """Startup: app hooks, then each blueprint's; shutdown waits for the background tasks still
        running, then runs the hooks in the reverse order."""
        self.server_info = server
        self.prepare()
        groups = [self._hooks, *(attached.hooks for attached in self._attached)]
        for hooks in groups:
            for hook in hooks.startup:
                await maybe_await(hook())
        try:
            async with contextlib.AsyncExitStack() as mounted:
                for mount in self.mounts:  # mounted applications start after this one, stop before it
                    lifespan = getattr(mount.app, "lifespan", None)
                    if lifespan is not None:
                        await mounted.enter_async_context(lifespan(server, state))
                yield
        finally:
            while self._background:
                await asyncio.wait(set(self._background))
            for hooks in reversed(groups):
                for hook in reversed(hooks.shutdown):
                    await maybe_await(hook())

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
        self, info: EndpointInfo, handler: Handler, default_name: str, attached: Attached | None
    ) -> None:
        prefix = attached.blueprint.prefix if attached is not None else ""
        pattern = prefix.rstrip("/") + info.path if prefix else info.path
        annotations = _annotations(handler)
        segments = compile_pattern(pattern, annotations)
        endpoint = (WebSocketEndpoint if info.websocket else Endpoint)(
            self,
            pattern=pattern,
            segments=segments,
            methods=info.methods,
            handler=handler,
            name=info.name or default_name,
            middleware=info.middleware,
            include_in_schema=info.include_in_schema,
            attached=attached,
            status=info.status,
            operation=info.operation,
        )
        self.router.add(pattern, segments, info.methods, endpoint, endpoint.name)
        self._stale = True

    def add_blueprint(self, blueprint: Blueprint) -> None:
        """Register the blueprint's endpoints and hooks; on any error nothing of it is kept."""
        if any(attached.blueprint is blueprint for attached in self._attached):
            raise RouteError(f"{blueprint!r} is already added")
        attached = Attached(blueprint, Hooks(), self._extensions.loading)
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

    def mount(self, prefix: str, app: pyre.spec.Application, *, name: str | None = None) -> None:
        """Serve ``app`` (an ``App``, ``StaticFiles`` or any pyre-spec application) under ``prefix``
        for the paths no route of this app answers (mounting.py); ``name`` is for ``url_for``."""
        mount = Mount(prefix, app, name)
        for other in self.mounts:
            if other.prefix == mount.prefix:
                raise RouteError(f"{prefix!r} is already mounted")
            if name is not None and other.name == name:
                raise RouteError(f"a mount is already named {name!r}")
        self.mounts.append(mount)

    def url_for(self, name: str, /, **parameters: Any) -> str:
        """The path of endpoint ``name`` with ``parameters`` formatted by their converters.

        ``"mount:name"`` is endpoint ``name`` of the ``App`` mounted as ``mount``, with the
        prefix in front; a mount's own name with ``path=`` is that path under its prefix.
        """
        mount_name, colon, inner = name.partition(":")
        if colon:
            mount = self._mount_named(mount_name)
            if not isinstance(mount.app, App):
                raise URLBuildError(f"mount {mount_name!r} is not an App: it has no named endpoints")
            return mount.prefix + mount.app.url_for(inner, **parameters)
        if not self.router.has_name(name) and any(mount.name == name for mount in self.mounts):
            return self._mount_named(name).url_path(parameters)
        return self.router.url_path(name, parameters)

    def _mount_named(self, name: str) -> Mount:
        for mount in self.mounts:
            if mount.name == name:
                return mount
        raise URLBuildError(f"no mount named {name!r}")

    @property
    def dependency_overrides(self) -> DependencyOverrides:
        """``{provider: replacement}``: each ``Depends(provider)`` calls the replacement instead."""
        return self._dependency_overrides

    @dependency_overrides.setter
    def dependency_overrides(self, overrides: dict[Any, Any]) -> None:
        self._dependency_overrides = DependencyOverrides(self._invalidate, overrides)
        self._invalidate()

    def _invalidate(self) -> None:
        self._stale = True

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

    # -- extensions (extensions.py) ---------------------------------------------------------------------

    @property
    def extensions(self) -> Mapping[str, types.ModuleType]:
        return types.MappingProxyType(self._extensions.modules)

    def load_extension(self, name: str) -> None:
        """Import module ``name`` and call its ``setup(app)``.

        Blueprints added during ``setup`` belong to the extension and are
        removed when it is unloaded.
        """
        self._extensions.load(name)

    def unload_extension(self, name: str) -> None:
        """Call the extension's ``teardown(app)`` if it has one, and remove its blueprints."""
        self._extensions.unload(name)

    def reload_extension(self, name: str) -> None:
        """Unload and load again; if loading the new code fails, the old extension is put back."""
        self._extensions.reload(name)

    def _drop_blueprints_of(self, extension: str) -> None:
        for attached in [attached for attached in self._attached if attached.extension == extension]:
            self.remove_blueprint(attached.blueprint)

    # -- OpenAPI ----------------------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document describing every endpoint."""
        from .openapi import build_document

        return build_document(self)

    async def _serve_docs(self, request: Request) -> HTMLResponse:
        assert self.openapi_url is not None
        js_url, css_url = self._docs_assets
        # The document's URL as the browser reaches it: under the prefix the app is mounted at.
        document_url = request.spec.root_path + self.openapi_url
        page = docs_page(self.title, document_url, js_url=js_url, css_url=css_url)
        return HTMLResponse(page)

    async def _serve_openapi(self) -> pyre.spec.Response:
        document = self._openapi
        if document is None:
            document = self._openapi = orjson.dumps(self.openapi())
        return pyre.spec.Response(200, [(b"content-type", b"application/json")], document)


def _add_hook(hooks: Hooks, kind: Any, function: Callable[..., Any]) -> None:
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
