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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from .middleware import Middleware
from .types import ExceptionKey

F = TypeVar("F", bound=Callable[..., Any])

_ENDPOINTS = "__pyre_endpoints__"
_HOOK = "__pyre_hook__"


@dataclass(frozen=True)
class Operation:
    """What an endpoint says of itself in the OpenAPI document, beyond what its signature says."""

    response_model: Any = None
    """The success response's schema; ``None`` takes the return annotation."""
    responses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    """More documented responses: OpenAPI Response Objects by status code."""
    tags: tuple[str, ...] | None = None
    """``None`` tags the operation with the blueprint's class name."""
    deprecated: bool = False
    summary: str | None = None
    """``None`` takes the docstring's first line (and the rest for ``description``)."""
    description: str | None = None
    security: tuple[Mapping[str, Sequence[str]], ...] | None = None
    """OpenAPI Security Requirement Objects; ``None`` says nothing, ``()`` says none is needed."""


NO_OPERATION: Final = Operation()
"""The options of an endpoint that declares none."""


@dataclass(frozen=True)
class EndpointInfo:
    """What ``@endpoint`` recorded about a method."""

    path: str
    methods: tuple[str, ...]
    name: str | None
    middleware: tuple[Middleware, ...]
    include_in_schema: bool
    status: int | None = None
    """The status of a response the handler's result is coerced into; ``None`` keeps coercion's."""
    operation: Operation = NO_OPERATION
    websocket: bool = False


def endpoint(
    path: str,
    methods: Iterable[str] = ("GET",),
    *,
    name: str | None = None,
    middleware: Sequence[Middleware] = (),
    include_in_schema: bool = True,
    status: int | None = None,
    response_model: Any = None,
    responses: Mapping[int, Mapping[str, Any]] | None = None,
    tags: Sequence[str] | None = None,
    deprecated: bool = False,
    summary: str | None = None,
    description: str | None = None,
    security: Sequence[Mapping[str, Sequence[str]]] | None = None,
) -> Callable[[F], F]:
    """Make a blueprint method the handler for ``methods`` on ``path``.

    ``name`` (default ``"ClassName.method_name"``) is what ``app.url_for`` takes.
    ``middleware`` wraps this endpoint only, inside the app's and blueprint's.
    ``status`` is the status of the response a returned value becomes (``201``);
    a returned ``Response`` or ``(body, status)`` tuple keeps its own.
    The rest describe the operation in the OpenAPI document (``Operation``).
    The decorator can be stacked to serve several paths; give each a ``name``.
    """
    info = EndpointInfo(
        path,
        tuple(method.upper() for method in methods),
        name,
        tuple(middleware),
        include_in_schema,
        check_status(status),
        operation(response_model, responses, tags, deprecated, summary, description, security),
    )
    return _marking(info)


def websocket(path: str, *, name: str | None = None) -> Callable[[F], F]:
    """Make a blueprint coroutine method the WebSocket endpoint on ``path``; it takes a ``WebSocket``
    (and path parameters, like ``endpoint``) and calls ``accept()`` first.  See websockets.py."""
    return _marking(EndpointInfo(path, ("GET",), name, (), include_in_schema=False, websocket=True))


def _marking(info: EndpointInfo) -> Callable[[F], F]:
    def mark(function: F) -> F:
        marks: list[EndpointInfo] = function.__dict__.setdefault(_ENDPOINTS, [])
        marks.insert(0, info)  # decorators apply bottom-up; keep them in reading order
        return function

    return mark


def check_status(status: int | None) -> int | None:
    if status is not None and not (isinstance(status, int) and 200 <= status <= 599):
        raise ValueError(f"an endpoint's status must be an int from 200 to 599, not {status!r}")
    return status


def operation(
    response_model: Any = None,
    responses: Mapping[int, Mapping[str, Any]] | None = None,
    tags: Sequence[str] | None = None,
    deprecated: bool = False,
    summary: str | None = None,
    description: str | None = None,
    security: Sequence[Mapping[str, Sequence[str]]] | None = None,
) -> Operation:
    """The ``Operation`` of these options, checked now rather than when the document is built."""
    for code in responses or {}:
        if not (isinstance(code, int) and 100 <= code <= 599):
            raise ValueError(f"responses= takes status codes from 100 to 599 as keys, not {code!r}")
    return Operation(
        response_model,
        dict(responses or {}),
        None if tags is None else tuple(tags),
        deprecated,
        summary,
        description,
        None if security is None else tuple(security),
    )


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
