"""Handler parameters: where each value comes from, worked out once per endpoint.

Each parameter of a handler is filled from one source, chosen by its
annotation when the endpoint is registered:

==============================================  ==========================================
parameter                                       source
==============================================  ==========================================
annotated ``Request`` (or unannotated           the request
``request``), ``pyre.spec.Request``
named like a ``{parameter}`` of the pattern     the path segment
``Annotated[T, Query()]``                       the query string
``Annotated[T, Header()]``                      a header (``user_agent`` -> ``user-agent``)
``Annotated[T, Cookie()]``                      a cookie
``Annotated[T, Body()]``, or a pydantic model   the body: JSON, or a form when the request
or dataclass                                    sends ``application/x-www-form-urlencoded``
                                                or ``multipart/form-data``
a ``Depends(provider)`` default, or             the provider's value (dependencies.py)
``Annotated[T, Depends(provider)]``
annotated ``BackgroundTasks``                   the request's background tasks (background.py)
anything else                                   the query string
==============================================  ==========================================

``list[T]``, ``set[T]``, ``tuple[T, ...]`` query, header and cookie parameters
take every value.  A parameter with a default is optional, and so is an
``Optional``/``T | None`` one (defaulting to ``None``).  Every value that is
missing or does not convert is reported together in one 422 response::

    {"detail": [{"loc": ["query", "limit"], "msg": "not a valid integer", "type": "value_error"}]}
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import pydantic

import pyre.spec

from .background import BackgroundTasks
from .convertors import Converter, converter_for, is_model
from .dependencies import Dependency, Provider, Scope
from .exceptions import ConverterError, RequestValidationError, RouteError
from .requests import Request

Error = dict[str, Any]


class Marker:
    """Says where a parameter comes from; used inside ``typing.Annotated``."""

    is_injection_marker = True
    source = ""

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias
        """The name in the request, when it differs from the parameter's name."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.alias!r})" if self.alias else f"{type(self).__name__}()"


class Query(Marker):
    """A query string parameter: ``Annotated[int, Query()]``."""

    source = "query"


class Header(Marker):
    """A request header; the name defaults to the parameter's with ``_`` as ``-``."""

    source = "header"


class Cookie(Marker):
    """A cookie sent in the ``Cookie`` header."""

    source = "cookie"


class Body(Marker):
    """The request body validated into the annotated type (JSON or a form)."""

    source = "body"


class Path(Marker):
    """A ``{parameter}`` of the route pattern; only needed to give it another name."""

    source = "path"


_MISSING: Any = inspect.Parameter.empty


@dataclass
class Parameter:
    """One handler parameter and how to fill it."""

    name: str
    source: str
    """``request``, ``spec``, ``path``, ``query``, ``header``, ``cookie``, ``body``, ``depends`` or
    ``background``."""
    key: str
    """The name in the request."""
    annotation: Any
    default: Any
    converter: Converter[Any] | None = None
    collection: type | None = None
    """``list``, ``set``, ``frozenset`` or ``tuple`` for a multi-valued parameter."""
    keyword_only: bool = False
    provider: Provider | None = None
    """What fills a ``depends`` parameter."""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


class Plan:
    """How to call one handler: the parameters, resolved ahead of any request."""

    def __init__(self, parameters: list[Parameter], path_names: Sequence[str]) -> None:
        self.parameters = parameters
        self.body = next((parameter for parameter in parameters if parameter.source == "body"), None)
        self.path_only = [parameter.name for parameter in parameters] == list(path_names) and not any(
            parameter.keyword_only for parameter in parameters
        )
        """Whether the handler takes exactly the path values, in pattern order, positionally."""
        self.providers = [parameter.provider for parameter in parameters if parameter.provider is not None]
        self.scoped = bool(self.providers) or any(
            parameter.source == "background" for parameter in parameters
        )
        """Whether binding needs a ``Scope``: some parameter is a dependency or the background tasks."""
        self._steps = [(parameter, _EXTRACTORS.get(parameter.source)) for parameter in parameters]
        """Each parameter with the function that extracts it; ``None`` for the body, a dependency and the
        background tasks, which need more than the request."""
        self._body_adapter: pydantic.TypeAdapter[Any] | None = (
            pydantic.TypeAdapter(self.body.annotation) if self.body is not None else None
        )

    async def bind(self, request: Request, scope: Scope | None = None) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments for the handler; raises ``RequestValidationError``.

        ``scope`` is required when the plan is ``scoped``."""
        errors: list[Error] = []
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for parameter, extract in self._steps:
            if extract is not None:
                value = extract(parameter, request, errors)
            elif parameter.source == "body":
                value = await self._read_body(request, parameter, errors)
            else:
                assert scope is not None, "a scoped plan is bound with a Scope"
                if parameter.provider is not None:
                    value = await parameter.provider.solve(request, scope, errors)
                else:
                    value = scope.background_tasks()
            if parameter.keyword_only:
                kwargs[parameter.name] = value
            else:
                args.append(value)
        if errors:
            raise RequestValidationError(errors)
        return args, kwargs

    def request_parameters(self) -> list[Parameter]:
        """The query, header and cookie parameters of the handler and of every provider it depends on,
        each ``(source, key)`` once: what the OpenAPI document lists."""
        found: dict[tuple[str, str], Parameter] = {}
        for parameter in self.parameters:
            if parameter.provider is not None:
                for inner in parameter.provider.plan.request_parameters():
                    found.setdefault((inner.source, inner.key), inner)
            elif parameter.source in ("query", "header", "cookie"):
                found.setdefault((parameter.source, parameter.key), parameter)
        return list(found.values())

    async def _read_body(self, request: Request, parameter: Parameter, errors: list[Error]) -> Any:
        assert self._body_adapter is not None
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        try:
            if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.body.form()
                fields = {key: _one_or_all(form.getlist(key)) for key in form}
                return self._body_adapter.validate_python(fields)
            content = await request.body.bytes()
            if not content:
                if not parameter.required:
                    return parameter.default
                errors.append({"loc": ["body"], "msg": "a request body is required", "type": "missing"})
                return None
            return self._body_adapter.validate_json(content)
        except pydantic.ValidationError as error:
            for item in error.errors(include_url=False):
                errors.append({"loc": ["body", *item["loc"]], "msg": item["msg"], "type": item["type"]})
            return None


def _one_or_all(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def _request(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    return request


def _spec(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    return request.spec


def _path(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    return request.path_params[parameter.key]


def _query(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    return _convert(parameter, request.query.getlist(parameter.key), errors)


def _header(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    return _convert(parameter, request.headers.get_all(parameter.key), errors)


def _cookie(parameter: Parameter, request: Request, errors: list[Error]) -> Any:
    cookie = request.cookies.get(parameter.key)
    return _convert(parameter, [] if cookie is None else [cookie], errors)


Extractor = Callable[[Parameter, Request, list[Error]], Any]

_EXTRACTORS: dict[str, Extractor] = {
    "request": _request,
    "spec": _spec,
    "path": _path,
    "query": _query,
    "header": _header,
    "cookie": _cookie,
}


def _convert(parameter: Parameter, found: list[str], errors: list[Error]) -> Any:
    """The parameter's value from the texts the request has for it."""
    if not found:
        if parameter.required:
            errors.append(
                {"loc": [parameter.source, parameter.key], "msg": "field required", "type": "missing"}
            )
        return parameter.default
    converter = parameter.converter
    assert converter is not None
    if parameter.collection is None:
        try:
            return converter.parse(found[0])
        except ValueError as error:
            errors.append(
                {"loc": [parameter.source, parameter.key], "msg": str(error), "type": "value_error"}
            )
            return None
    values = []
    for position, text in enumerate(found):
        try:
            values.append(converter.parse(text))
        except ValueError as error:
            errors.append(
                {"loc": [parameter.source, parameter.key, position], "msg": str(error), "type": "value_error"}
            )
    return parameter.collection(values)


Overrides = Mapping[Callable[..., Any], Callable[..., Any]]


def plan_for(
    handler: Callable[..., Any],
    path_names: Sequence[str],
    overrides: Overrides | None = None,
    *,
    _within: tuple[Callable[..., Any], ...] = (),
) -> Plan:
    """Resolve every parameter of ``handler`` (a bound method or a function), and of every provider it
    depends on, each replaced by its entry in ``overrides`` if it has one.

    ``_within`` is the chain of providers being resolved: a provider's plan need not take every path
    parameter, and may not depend on itself."""
    name = getattr(handler, "__qualname__", repr(handler))
    try:
        hints = typing.get_type_hints(_annotated(handler), include_extras=True)
    except Exception as error:
        raise RouteError(f"cannot resolve the annotations of {name}: {error}") from error
    parameters = []
    seen_path = set()
    for signature_parameter in inspect.signature(handler).parameters.values():
        if signature_parameter.kind in (signature_parameter.VAR_POSITIONAL, signature_parameter.VAR_KEYWORD):
            raise RouteError(f"{name}: *args and **kwargs cannot be injected")
        annotation = hints.get(signature_parameter.name, _MISSING)
        depends = _depends_of(signature_parameter, annotation)
        if depends is not None:
            parameter = _dependency(
                signature_parameter, depends, annotation, path_names, overrides or {}, _within
            )
        else:
            parameter = _resolve(signature_parameter, annotation, path_names)
        if parameter.source == "path":
            if parameter.key not in path_names:
                raise RouteError(f"{name}: the pattern has no parameter {{{parameter.key}}}")
            seen_path.add(parameter.key)
        parameters.append(parameter)
    missing = [name for name in path_names if name not in seen_path]
    if missing and not _within:
        raise RouteError(f"{name} takes no parameter for {missing} of its pattern")
    if sum(parameter.source == "body" for parameter in parameters) > 1:
        raise RouteError(f"{name}: only one parameter can take the request body")
    return Plan(parameters, path_names)


def _annotated(handler: Callable[..., Any]) -> Any:
    """What holds the annotations of ``handler``'s parameters: a class's ``__init__`` (its own are
    its attributes'), a callable object's ``__call__``, or the function itself."""
    if isinstance(handler, type):
        return typing.cast(Any, handler).__init__
    if inspect.isroutine(handler):
        return handler
    return type(handler).__call__


def _depends_of(signature_parameter: inspect.Parameter, annotation: Any) -> Dependency | None:
    """The parameter's ``Depends``: its default, or in its ``Annotated`` metadata."""
    default = signature_parameter.default
    found = [default] if isinstance(default, Dependency) else []
    if typing.get_origin(annotation) is typing.Annotated:
        found += [item for item in typing.get_args(annotation)[1:] if isinstance(item, Dependency)]
    if len(found) > 1:
        raise RouteError(f"parameter {signature_parameter.name!r} has more than one Depends")
    if found and default is not _MISSING and default is not found[0]:
        raise RouteError(
            f"parameter {signature_parameter.name!r}: its provider gives the value, not a default"
        )
    return found[0] if found else None


def _dependency(
    signature_parameter: inspect.Parameter,
    depends: Dependency,
    annotation: Any,
    path_names: Sequence[str],
    overrides: Overrides,
    within: tuple[Callable[..., Any], ...],
) -> Parameter:
    if depends.provider in within:
        chain = " -> ".join(getattr(call, "__qualname__", repr(call)) for call in (*within, depends.provider))
        raise RouteError(f"dependency cycle: {chain}")
    call = overrides.get(depends.provider, depends.provider)
    plan = plan_for(call, path_names, overrides, _within=(*within, depends.provider))
    return Parameter(
        signature_parameter.name,
        "depends",
        signature_parameter.name,
        annotation,
        _MISSING,
        keyword_only=signature_parameter.kind is signature_parameter.KEYWORD_ONLY,
        provider=Provider(depends, call, plan),
    )


def _resolve(signature_parameter: inspect.Parameter, annotation: Any, path_names: Sequence[str]) -> Parameter:
    name = signature_parameter.name
    default = signature_parameter.default
    keyword_only = signature_parameter.kind is signature_parameter.KEYWORD_ONLY
    base, marker = _split_marker(annotation)
    if marker is None and base is BackgroundTasks:
        return Parameter(name, "background", name, annotation, default, keyword_only=keyword_only)
    if marker is None and _is_request(base, name):
        source = "spec" if base is pyre.spec.Request else "request"
        return Parameter(name, source, name, annotation, default, keyword_only=keyword_only)
    if marker is not None:
        source = marker.source
    elif name in path_names:
        source = "path"
    elif is_model(_strip_optional(base)):
        source = "body"
    else:
        source = "query"
    key = marker.alias if marker is not None and marker.alias else name
    if source == "header" and not (marker and marker.alias):
        key = name.replace("_", "-")
    if source in ("path", "body"):
        body_annotation = annotation if marker is None else _without_marker(annotation)
        if default is _MISSING and source == "body" and _allows_none(base):
            default = None
        return Parameter(name, source, key, body_annotation, default, keyword_only=keyword_only)
    collection, item = _collection(_strip_optional(base))
    if default is _MISSING and _allows_none(base):
        default = None
    converter_annotation = _without_marker(annotation) if collection is None else item
    try:
        converter = converter_for(converter_annotation)
    except ConverterError as error:
        raise ConverterError(f"parameter {name!r}: {error}") from None
    return Parameter(name, source, key, annotation, default, converter, collection, keyword_only)


def _split_marker(annotation: Any) -> tuple[Any, Marker | None]:
    """The annotation without ``Annotated``, and the injection marker in it, if any."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation, None
    base, *metadata = typing.get_args(annotation)
    markers = [item() if isinstance(item, type) else item for item in metadata if _marks(item)]
    if len(markers) > 1:
        raise RouteError(f"{annotation!r} has more than one of Query, Header, Cookie, Body and Path")
    return base, (markers[0] if markers else None)


def _marks(item: Any) -> bool:
    return isinstance(item, Marker) or (isinstance(item, type) and issubclass(item, Marker))


def _without_marker(annotation: Any) -> Any:
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation
    base, *metadata = typing.get_args(annotation)
    kept = [item for item in metadata if not _marks(item)]
    return typing.Annotated[(base, *kept)] if kept else base


def _is_request(annotation: Any, name: str) -> bool:
    if annotation is pyre.spec.Request:
        return True
    if isinstance(annotation, type) and issubclass(annotation, Request):
        return True
    return annotation is _MISSING and name == "request"


def _union_members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return (annotation,)


def _allows_none(annotation: Any) -> bool:
    return type(None) in _union_members(annotation)


def _strip_optional(annotation: Any) -> Any:
    members = [member for member in _union_members(annotation) if member is not type(None)]
    return members[0] if len(members) == 1 else annotation


_COLLECTIONS: dict[Any, type] = {
    list: list,
    set: set,
    frozenset: frozenset,
    tuple: tuple,
    Sequence: list,
    Set: set,
}


def _collection(annotation: Any) -> tuple[type | None, Any]:
    """``(list, int)`` for ``list[int]``; ``(None, annotation)`` for a single value."""
    collection = _COLLECTIONS.get(typing.get_origin(annotation))
    if collection is None:
        return None, annotation
    args = typing.get_args(annotation)
    if collection is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        raise RouteError(f"{annotation!r}: only tuple[T, ...] can hold several values")
    return collection, (args[0] if args else str)
