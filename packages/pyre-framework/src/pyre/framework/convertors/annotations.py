"""The converter a handler parameter's annotation gets: ``int``, ``Optional[int]``,
``Annotated[int, Gt(0)]``, ``Literal[...]``, an ``Enum``, or whatever pydantic can validate."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal

import annotated_types
import pydantic
from pydantic.fields import FieldInfo

from .base import Converter, schema_of
from .composite import AdapterConverter, Check, ChoiceConverter, ConstrainedConverter, UnionConverter
from .registry import by_type


def converter_for(annotation: Any) -> Converter[Any]:
    """The converter for a parameter annotated with ``annotation``."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return by_type[str]
    try:
        found = by_type.get(annotation)
    except TypeError:  # an unhashable annotation such as Annotated[..., FieldInfo]
        found = None
    if found is not None:
        return found
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotated(annotation)
    if origin is Literal:
        return ChoiceConverter(typing.get_args(annotation), describe=lambda choice: choice)
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return converter_for(members[0])
        return UnionConverter([converter_for(member) for member in members])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ChoiceConverter(annotation, describe=lambda member: member.value)
    return AdapterConverter(annotation)


def _annotated(annotation: Any) -> Converter[Any]:
    base, *metadata = typing.get_args(annotation)
    constraints = list(_flatten(metadata))
    checks: list[Check] = []
    converter = converter_for(base)
    schema = schema_of(converter)
    for constraint in constraints:
        made = _check_for(constraint)
        if made is None:
            return AdapterConverter(annotation)
        check, keyword, bound = made
        checks.append(check)
        schema[keyword] = bound
    if not checks:
        return converter
    return ConstrainedConverter(converter, checks, schema)


def _flatten(metadata: Iterable[Any]) -> Iterable[Any]:
    for item in metadata:
        if isinstance(item, FieldInfo):
            yield from _flatten(item.metadata)
        elif isinstance(item, annotated_types.GroupedMetadata):
            yield from _flatten(item)
        elif isinstance(item, annotated_types.BaseMetadata) or not _is_marker(item):
            yield item


def _is_marker(item: Any) -> bool:
    # Injection markers (Query(), Header()...) are read by params.py, not here.
    return getattr(item, "is_injection_marker", False) is True


_LIMITS: dict[type, tuple[str, str, Callable[[Any, Any], bool]]] = {
    annotated_types.Gt: ("gt", "exclusiveMinimum", lambda value, bound: value > bound),
    annotated_types.Ge: ("ge", "minimum", lambda value, bound: value >= bound),
    annotated_types.Lt: ("lt", "exclusiveMaximum", lambda value, bound: value < bound),
    annotated_types.Le: ("le", "maximum", lambda value, bound: value <= bound),
    annotated_types.MultipleOf: ("multiple_of", "multipleOf", lambda value, bound: value % bound == 0),
    annotated_types.MinLen: ("min_length", "minLength", lambda value, bound: len(value) >= bound),
    annotated_types.MaxLen: ("max_length", "maxLength", lambda value, bound: len(value) <= bound),
}

_MESSAGES = {
    "gt": "must be greater than {}",
    "ge": "must be greater than or equal to {}",
    "lt": "must be less than {}",
    "le": "must be less than or equal to {}",
    "multiple_of": "must be a multiple of {}",
    "min_length": "must have at least {} characters",
    "max_length": "must have at most {} characters",
}


def _check_for(constraint: Any) -> tuple[Check, str, Any] | None:
    """A check for one known constraint, its JSON Schema keyword and bound; ``None`` if unknown."""
    known = _LIMITS.get(type(constraint))
    if known is None:
        return None
    field, keyword, holds = known
    bound = getattr(constraint, field)
    message = _MESSAGES[field].format(bound)

    def check(value: Any) -> None:
        if not holds(value, bound):
            raise ValueError(message)

    return check, keyword, bound


def is_model(annotation: Any) -> bool:
    """Whether ``annotation`` is a pydantic model or a dataclass: a structured body."""
    return isinstance(annotation, type) and (
        issubclass(annotation, pydantic.BaseModel) or dataclasses.is_dataclass(annotation)
    )
