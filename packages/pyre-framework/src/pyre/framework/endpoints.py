"""Endpoints: one handler for a pattern and methods, with its layers, and the one place a handler's
result becomes a response.

An endpoint is called in one of two ways, chosen once by ``Endpoint.prepare``:

- *direct*, when the handler takes only its path parameters and the endpoint has
  no hooks, middleware or blueprint exception handlers: the handler is awaited
  with the values the router converted, and no ``Request`` is built unless the
  result is a ``RequestAwareResponse`` that needs one;
- through its *chain*: blueprint hooks, blueprint middleware, endpoint
  middleware, then ``_invoke``, which binds the parameters and calls the handler
  (``_invoke_scoped`` when it has dependencies or background tasks: providers
  finish after the handler, the tasks ride on its response).

Either way the result is coerced (``to_response``) and, when it is a
``RequestAwareResponse``, prepared with the request, exactly once, right where
the handler returned it: middleware and hooks above see a finished response.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyre.spec

from .background import attach
from .blueprints import NO_OPERATION, Blueprint, Operation
from .dependencies import Scope
from .errors import ErrorHandlers, call_error_handler, find_handler
from .middleware import CallNext, Middleware, compose
from .params import Plan, plan_for
from .requests import Request
from .responses import RequestAwareResponse, to_response
from .routing import Segment, parameter_names
from .types import AfterHook, BeforeHook, Handler, LifespanHook, maybe_await

if TYPE_CHECKING:
    from .app import App


@dataclass(eq=False)
class Hooks:
    """The hooks and exception handlers of the app or of one blueprint."""

    before: list[BeforeHook] = field(default_factory=list)
    after: list[AfterHook] = field(default_factory=list)
    startup: list[LifespanHook] = field(default_factory=list)
    shutdown: list[LifespanHook] = field(default_factory=list)
    errors: ErrorHandlers = field(default_factory=dict)


@dataclass(eq=False)
class Attached:
    """A blueprint added to the app, and what it brought."""

    blueprint: Blueprint
    hooks: Hooks
    extension: str | None
    """The extension whose ``setup`` added it, if any."""


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
        attached: Attached | None = None,
        status: int | None = None,
        operation: Operation = NO_OPERATION,
    ) -> None:
        self.app = app
        self.pattern = pattern
        self.segments = segments
        self.methods = methods
        self.handler = handler
        self.name = name
        self.middleware = tuple(middleware)
        self.include_in_schema = include_in_schema
        self.status = status
        self.operation = operation
        self.attached = attached
        self.path_names = parameter_names(segments)
        self._overrides_version = app.dependency_overrides.version
        self.plan: Plan = plan_for(handler, self.path_names, app.dependency_overrides)
        self.is_async = inspect.iscoroutinefunction(handler)
        self.call: Callable[..., Awaitable[Any]] = (
            handler if self.is_async else functools.partial(asyncio.to_thread, handler)
        )
        """The handler as a coroutine function: a sync one runs in a worker thread."""
        if status is not None:
            self.call = _with_status(self.call, status)
        self._chain: CallNext = self._invoke
        self._errors: ErrorHandlers = {}
        self.direct = False
        """Whether the handler is awaited with the path values alone; otherwise it goes through the chain."""
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
        overrides = self.app.dependency_overrides
        if self.plan.providers and self._overrides_version != overrides.version:
            self.plan = plan_for(self.handler, self.path_names, overrides)
            self._overrides_version = overrides.version
        self.direct = not layers and not self._errors and self.plan.path_only
        self._chain = compose(layers, self._invoke_scoped if self.plan.scoped else self._invoke)

    async def respond(
        self, spec: pyre.spec.Request, request: Request | None, values: list[Any]
    ) -> pyre.spec.Response:
        """The response to one exchange; what the endpoint raises goes to the blueprint's exception
        handlers, then the app's.

        ``request`` is the ``Request`` app middleware already built, or ``None``: then one is
        built here, and only if the chain, a ``RequestAwareResponse`` or an error handler needs it.
        """
        try:
            if self.direct:
                response = to_response(await self.call(*values))
                if isinstance(response, RequestAwareResponse):
                    await response.prepare(request if request is not None else Request(spec, app=self.app))
                return response
            if request is None:
                request = Request(spec, app=self.app)
            request.path_params = dict(zip(self.path_names, values, strict=True))
            return await self._chain(request)
        except Exception as exc:
            failure = exc
            handler = find_handler(self._errors, exc) if self._errors else None
            if handler is not None and request is not None:
                try:
                    return await call_error_handler(handler, request, exc)
                except Exception as error:  # the blueprint's handler failed: the app's may take it
                    failure = error
            return await self.app._handle_error(failure, spec, request)

    async def _invoke(self, request: Request) -> pyre.spec.Response:
        """The innermost layer of the chain: bind the parameters, call the handler, coerce its result."""
        if self.plan.path_only:
            path_params = request.path_params
            args: list[Any] = [path_params[name] for name in self.path_names]
            kwargs: dict[str, Any] = {}
        else:
            args, kwargs = await self.plan.bind(request)
        response = to_response(await self.call(*args, **kwargs))
        if isinstance(response, RequestAwareResponse):
            await response.prepare(request)
        return response

    async def _invoke_scoped(self, request: Request) -> pyre.spec.Response:
        """``_invoke`` for a handler with dependencies or background tasks."""
        scope = Scope()
        try:
            args, kwargs = await self.plan.bind(request, scope)
            response = to_response(await self.call(*args, **kwargs))
            if isinstance(response, RequestAwareResponse):
                await response.prepare(request)
        except BaseException as exc:
            # Generators see the exception at their yield; one that swallows it cannot answer instead.
            await scope.exits.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await scope.exits.aclose()
        if scope.tasks:
            return await attach(scope.tasks, response, self.app._start_background)
        return response

    def __repr__(self) -> str:
        return f"<Endpoint {self.name} {'|'.join(self.methods)} {self.pattern}>"


def _with_status(call: Callable[..., Awaitable[Any]], status: int) -> Callable[..., Awaitable[Any]]:
    """``call`` whose result, when coerced into a response, gets ``status``; a ``Response`` or a
    ``(body, status)`` tuple the handler returned keeps its own."""

    async def call_with_status(*args: Any, **kwargs: Any) -> Any:
        result = await call(*args, **kwargs)
        response = to_response(result)
        if response is not result and type(result) is not tuple:
            response.status = status
        return response

    return call_with_status


class HookLayer:
    """Before and after hooks as one middleware layer."""

    def __init__(self, before: Sequence[BeforeHook], after: Sequence[AfterHook]) -> None:
        self.before = tuple(before)
        self.after = tuple(after)

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        response: pyre.spec.Response | None = None
        for hook in self.before:
            early = await maybe_await(hook(request))
            if early is not None:
                response = to_response(early)
                break
        if response is None:
            response = await call_next(request)
        for after in self.after:
            replaced = await maybe_await(after(request, response))
            if replaced is not None:
                response = to_response(replaced)
        return response
