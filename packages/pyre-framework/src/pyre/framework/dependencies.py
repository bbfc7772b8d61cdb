"""Dependency injection: ``Depends(provider)`` as a parameter's default.

::

    async def transaction(request: Request) -> AsyncIterator[Store]:
        store = request.app.state.store
        store.begin()
        yield store          # the handler runs here
        store.commit()       # after the handler; a handler's exception is raised at the yield

    @framework.endpoint("/todos", methods=["POST"])
    async def create(self, todo: TodoIn, store: Store = Depends(transaction)) -> Todo: ...

A provider is a sync or async function, or a sync or async generator function
that yields once; its own parameters are injected like a handler's (request,
path, query, header, cookie and body values, ``BackgroundTasks``, other
``Depends``).  Sync providers run in a worker thread, like sync handlers.
Generators are entered in parameter order and finished after the handler, in
the reverse order, also when it raised: the exception is thrown in at the
``yield``, as ``contextlib`` does.  A provider cannot turn the handler's
exception into a response: if it swallows one, the exception still goes to
the exception handlers.

Within one request a provider runs once and its value is shared by every
parameter that depends on it, unless ``Depends(..., use_cache=False)``.
``app.dependency_overrides[provider] = replacement`` swaps a provider
everywhere (for tests); the plans are compiled again before the next request.

Everything about a provider is worked out when the endpoint is registered
(``params.plan_for``); per request there is only a ``Scope``: the cache, the
exit stack and the ``BackgroundTasks``, made for endpoints that need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .background import BackgroundTasks
from .exceptions import RequestValidationError

if TYPE_CHECKING:
    from .params import Error, Plan
    from .requests import Request


def Depends(provider: Callable[..., Any], *, use_cache: bool = True) -> Any:
    """The default of a parameter filled by calling ``provider``: ``store: Store = Depends(transaction)``.

    Typed ``Any``, as FastAPI's is, so that the default type-checks against the
    parameter's annotation (``user: str = Depends(current_user)``) under ``mypy --strict``.
    """
    return Dependency(provider, use_cache=use_cache)


class Dependency:
    """What ``Depends(provider)`` returns: the provider, and whether its value is cached per request."""

    __slots__ = ("provider", "use_cache")

    def __init__(self, provider: Callable[..., Any], *, use_cache: bool = True) -> None:
        if not callable(provider):
            raise TypeError(f"Depends takes a callable, not {provider!r}")
        self.provider = provider
        self.use_cache = use_cache
        """Whether the value is shared by every use of ``provider`` in one request."""

    def __repr__(self) -> str:
        name = getattr(self.provider, "__qualname__", repr(self.provider))
        return f"Depends({name})" if self.use_cache else f"Depends({name}, use_cache=False)"


class Provider:
    """A ``Dependency`` compiled for one endpoint: what to call, with which plan, and how."""

    __slots__ = ("key", "call", "plan", "use_cache", "_enter")

    def __init__(self, depends: Dependency, call: Callable[..., Any], plan: Plan) -> None:
        self.key = depends.provider
        """The provider as declared: the cache key, and what an override replaces."""
        self.call = call
        """The provider, or its override."""
        self.plan = plan
        self.use_cache = depends.use_cache
        self._enter = _entering(call)

    async def solve(self, request: Request, scope: Scope, errors: list[Error]) -> Any:
        """The provider's value for this request; ``None`` when a value it needs is invalid, added to
        ``errors`` (the endpoint's), which are raised together once every parameter is bound."""
        if self.use_cache and self.key in scope.cache:
            return scope.cache[self.key]
        try:
            args, kwargs = await self.plan.bind(request, scope)
        except RequestValidationError as invalid:
            errors.extend(invalid.errors)
            return None
        if errors:  # a value bound before this provider is invalid: the handler will not run
            return None
        value = await self._enter(args, kwargs, scope.exits)
        if self.use_cache:
            scope.cache[self.key] = value
        return value


Enter = Callable[[list[Any], dict[str, Any], contextlib.AsyncExitStack], Any]


def _entering(call: Callable[..., Any]) -> Enter:
    """How to call ``call`` and get its value, by kind; generators leave their finish on the stack."""
    function = call if inspect.isroutine(call) or isinstance(call, type) else type(call).__call__
    if inspect.isasyncgenfunction(function):
        async_context = contextlib.asynccontextmanager(call)

        async def enter_async_generator(
            args: list[Any], kwargs: dict[str, Any], exits: contextlib.AsyncExitStack
        ) -> Any:
            return await exits.enter_async_context(async_context(*args, **kwargs))

        return enter_async_generator
    if inspect.isgeneratorfunction(function):
        context = contextlib.contextmanager(call)

        async def enter_generator(
            args: list[Any], kwargs: dict[str, Any], exits: contextlib.AsyncExitStack
        ) -> Any:
            manager = context(*args, **kwargs)
            value = await asyncio.to_thread(manager.__enter__)
            exits.push_async_exit(functools.partial(_exit_in_thread, manager))
            return value

        return enter_generator
    if inspect.iscoroutinefunction(function):

        async def enter_coroutine(
            args: list[Any], kwargs: dict[str, Any], exits: contextlib.AsyncExitStack
        ) -> Any:
            return await call(*args, **kwargs)

        return enter_coroutine

    async def enter_function(
        args: list[Any], kwargs: dict[str, Any], exits: contextlib.AsyncExitStack
    ) -> Any:
        return await asyncio.to_thread(call, *args, **kwargs)

    return enter_function


async def _exit_in_thread(
    manager: contextlib.AbstractContextManager[Any],
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    traceback: TracebackType | None,
) -> bool | None:
    return await asyncio.to_thread(manager.__exit__, exc_type, exc, traceback)


class Scope:
    """What the dependencies of one request share: values by provider, finishes, background tasks."""

    __slots__ = ("cache", "exits", "tasks")

    def __init__(self) -> None:
        self.cache: dict[Callable[..., Any], Any] = {}
        self.exits = contextlib.AsyncExitStack()
        self.tasks: BackgroundTasks | None = None

    def background_tasks(self) -> BackgroundTasks:
        """The request's ``BackgroundTasks``, one for the handler and all its providers."""
        if self.tasks is None:
            self.tasks = BackgroundTasks()
        return self.tasks


class DependencyOverrides(dict[Callable[..., Any], Callable[..., Any]]):
    """``app.dependency_overrides``: a dict that tells the app to compile its plans again when it changes."""

    def __init__(
        self, changed: Callable[[], None], overrides: Mapping[Any, Any] | Iterable[Any] = ()
    ) -> None:
        super().__init__(overrides)
        self._on_change = changed
        self.version = 0
        """Counts the changes: an endpoint compiled with another version compiles its plan again."""

    def _changed(self) -> None:
        self.version += 1
        self._on_change()

    def __setitem__(self, provider: Callable[..., Any], replacement: Callable[..., Any]) -> None:
        if not callable(replacement):
            raise TypeError(f"an override must be callable, not {replacement!r}")
        super().__setitem__(provider, replacement)
        self._changed()

    def __delitem__(self, provider: Callable[..., Any]) -> None:
        super().__delitem__(provider)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def pop(self, provider: Callable[..., Any], *default: Any) -> Any:
        value = super().pop(provider, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        item = super().popitem()
        self._changed()
        return item

    def update(self, *others: Any, **kwargs: Any) -> None:
        for key, value in dict(*others, **kwargs).items():
            self[key] = value

    def setdefault(self, provider: Callable[..., Any], replacement: Any = None) -> Any:
        if provider not in self:
            self[provider] = replacement
        return self[provider]

    def __ior__(self, other: Any) -> DependencyOverrides:  # type: ignore[override,misc]
        self.update(other)
        return self
