"""The converters by pattern name (``{id:int}``) and by annotated type (``id: int``)."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from ..exceptions import ConverterError
from .base import Converter
from .builtin import (
    BoolConverter,
    DateConverter,
    DateTimeConverter,
    DecimalConverter,
    FloatConverter,
    IntConverter,
    PathConverter,
    SlugConverter,
    StringConverter,
    TimeConverter,
    UUIDConverter,
)

T = TypeVar("T")

ConverterFactory = Callable[..., Converter[Any]]

_by_name: dict[str, ConverterFactory] = {
    "string": StringConverter,
    "str": StringConverter,
    "path": PathConverter,
    "slug": SlugConverter,
    "int": IntConverter,
    "float": FloatConverter,
    "decimal": DecimalConverter,
    "bool": BoolConverter,
    "uuid": UUIDConverter,
    "date": DateConverter,
    "datetime": DateTimeConverter,
    "time": TimeConverter,
}

# The converter of each annotated type; register_converter adds to it, annotations.converter_for reads it.
by_type: dict[Any, Converter[Any]] = {
    str: StringConverter(min_length=0),
    int: IntConverter(),
    float: FloatConverter(),
    Decimal: DecimalConverter(),
    bool: BoolConverter(),
    uuid.UUID: UUIDConverter(),
    dt.date: DateConverter(),
    dt.datetime: DateTimeConverter(),
    dt.time: TimeConverter(),
}


def register_converter(cls: type[T], converter: Converter[T], *, name: str | None = None) -> None:
    """Convert parameters annotated with ``cls`` with ``converter``.

    With ``name``, route patterns can also ask for it: ``{value:name}``.
    """
    by_type[cls] = converter
    if name is not None:
        _by_name[name] = lambda: converter


def converter_from_pattern(name: str, arguments: str | None) -> Converter[Any]:
    """The converter a route pattern names: ``int`` or ``int(min=1, max=10)``."""
    try:
        factory = _by_name[name]
    except KeyError:
        known = ", ".join(sorted(_by_name))
        raise ConverterError(f"unknown converter {name!r}; known converters: {known}") from None
    keywords = _parse_arguments(arguments) if arguments else {}
    try:
        return factory(**keywords)
    except TypeError as error:
        raise ConverterError(f"bad arguments for converter {name!r}: {error}") from None


def _parse_arguments(arguments: str) -> dict[str, Any]:
    """``min=1, max=10`` as keyword arguments; values must be Python literals."""
    try:
        call = ast.parse(f"f({arguments})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError(arguments)
        return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords if keyword.arg}
    except (SyntaxError, ValueError):
        raise ConverterError(f"converter arguments must be name=literal pairs, not {arguments!r}") from None
