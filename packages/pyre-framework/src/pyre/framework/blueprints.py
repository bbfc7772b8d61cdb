"""Blueprints: classes whose decorated methods are endpoints.

::

    class Users(framework.Blueprint):
        prefix = "/users"

        def __init__(self, app: App) -> None:
            self.app = app

        @framework.endpoint("/{id:int}", methods=["GET"])
        async def get_user(self, id: int) -> dict[str, int]:
            return {"id": id}

A blueprint is an instance: it carries its own state, and the app binds its
methods when it is added with ``app.add_blueprint``.  ``framework.endpoint``
only marks a function; nothing is registered until then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .middleware import Middleware
from .types import ExceptionKey

F = TypeVar("F", bound=Callable[..., Any])

_ENDPOINTS = "__pyre_endpoints__"
_HOOK = "__pyre_hook__"


@dataclass(frozen=True)
class EndpointInfo:
    """What ``@endpoint`` recorded about a method."""

    path: str
    methods: tuple[str, ...]
    name: str | None
    middleware: tuple[Middleware, ...]
    include_in_schema: bool


def endpoint(
    path: str,
    methods: Iterable[str] = ("GET",),
    *,
    name: str | None = None,
    middleware: Sequence[Middleware] = (),
    include_in_schema: bool = True,
) -> Callable[[F], F]:
    """Make a blueprint method the handler for ``methods`` on ``path``.

    ``name`` (default ``"ClassName.method_name"``) is what ``app.url_for`` takes.
    ``middleware`` wraps this endpoint only, inside the app's and blueprint's.
    The decorator can be stacked to serve several paths; give each a ``name``.
    """
    info = EndpointInfo(
        path, tuple(method.upper() for method in methods), name, tuple(middleware), include_in_schema
    )

    def mark(function: F) -> F:
        marks: list[EndpointInfo] = function.__dict__.setdefault(_ENDPOINTS, [])
        marks.insert(0, info)  # decorators apply bottom-up; keep them in reading order
        return function

    return mark


def _hook(kind: Any) -> Callable[[F], F]:
    def mark(function: F) -> F:
        function.__dict__[_HOOK] = kind
        return function

    return mark


on_startup = _hook("startup")
"""Mark a blueprint method to run at application startup."""
on_shutdown = _hook("shutdown")
"""Mark a blueprint method to run at application shutdown."""
before_request = _hook("before")
"""Mark a blueprint method ``(request)`` to run before each of the blueprint's endpoints."""
after_request = _hook("after")
"""Mark a blueprint method ``(request, response)`` to run after each of the blueprint's endpoints."""


def exception_handler(*keys: ExceptionKey) -> Callable[[F], F]:
    """Mark a blueprint method ``(request, exc)`` to handle these exceptions raised by its endpoints."""
    return _hook(("exception", keys))


class Blueprint:
    """A group of endpoints, hooks and middleware; subclass it and decorate methods.

    Class attributes (an instance may override them before it is added):

    - ``prefix``: put in front of every endpoint path, e.g. ``"/users"``;
    - ``middleware``: wraps every endpoint of the blueprint, first entry outermost.
    """

    prefix: ClassVar[str] = ""
    middleware: Sequence[Middleware] = ()


@dataclass(frozen=True)
class Member:
    """One decorated method of a blueprint, bound to the instance."""

    attribute: str
    function: Callable[..., Any]
    endpoints: Sequence[EndpointInfo]
    hook: Any


def members(blueprint: Blueprint) -> Iterator[Member]:
    """The blueprint's decorated methods in definition order, subclasses overriding bases."""
    found: dict[str, Any] = {}
    for klass in reversed(type(blueprint).__mro__):
        found.update(vars(klass))
    for attribute, value in found.items():
        endpoints = getattr(value, _ENDPOINTS, ())
        hook = getattr(value, _HOOK, None)
        if endpoints or hook is not None:
            yield Member(attribute, getattr(blueprint, attribute), endpoints, hook)
