"""Converters: text from the URL, query or headers to typed values, and back.

A converter is any object with ``parse(text) -> value`` (raising ``ValueError``
when the text is not a valid value) and ``format(value) -> text`` (used by
``url_for``).  Converters come from two places:

- a name in a route pattern, ``{id:int}`` or ``{n:int(min=1,max=10)}``
  (``converter_from_pattern``);
- a handler parameter's annotation, ``id: int`` or
  ``Annotated[int, Gt(0)]`` (``converter_for``).

Common types have hand-written converters because they run on every request;
anything else pydantic can validate goes through a ``pydantic.TypeAdapter``.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import enum
import inspect
import math
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

import annotated_types
import pydantic
from pydantic.fields import FieldInfo

from .exceptions import ConverterError

T = TypeVar("T")

JSONSchema = dict[str, Any]


class Converter(Protocol[T]):
    """Turns one text value into a ``T`` and a ``T`` back into text."""

    def parse(self, value: str, /) -> T:
        """The value ``value`` stands for; raises ``ValueError`` when it is not valid."""
        ...

    def format(self, value: T, /) -> str:
        """The text that ``parse`` turns into ``value``."""
        ...


def schema_of(converter: Converter[Any]) -> JSONSchema:
    """The JSON Schema of the values ``converter`` accepts, for OpenAPI."""
    schema = getattr(converter, "schema", None)
    return dict(schema) if isinstance(schema, dict) else {"type": "string"}


# -- converters for one type -------------------------------------------------------------------------------


class StringConverter:
    """Any non-empty text without ``/``."""

    def __init__(self, min_length: int = 1, max_length: int | None = None) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.schema: JSONSchema = {"type": "string", "minLength": min_length}
        if max_length is not None:
            self.schema["maxLength"] = max_length

    def parse(self, value: str) -> str:
        if len(value) < self.min_length:
            raise ValueError(f"must have at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must have at most {self.max_length} characters")
        return value

    def format(self, value: str) -> str:
        return value


class PathConverter(StringConverter):
    """The rest of the path, ``/`` included; only allowed as the last segment of a pattern.

    The value never has a ``.`` or ``..`` segment (however it was spelled: ``%2e%2e``
    is decoded before this check), a backslash or a NUL, so joining it to a directory
    stays inside that directory as far as the text goes (symlinks are another matter:
    see ``pyre.framework.staticfiles``).  ``unsafe=True`` lets such values through,
    for a handler that never treats the value as a file path.
    """

    def __init__(self, min_length: int = 1, max_length: int | None = None, unsafe: bool = False) -> None:
        super().__init__(min_length, max_length)
        self.unsafe = unsafe

    def parse(self, value: str) -> str:
        # Most values (``css/site.css``) have no "/." and are checked without a split.
        if not self.unsafe and (
            "\\" in value
            or "\x00" in value
            or (("/." in value or value[:1] == ".") and any(part in (".", "..") for part in value.split("/")))
        ):
            raise ValueError("must not have '.' or '..' segments, backslashes or NUL characters")
        if len(value) < self.min_length:
            raise ValueError(f"must have at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must have at most {self.max_length} characters")
        return value


_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class SlugConverter:
    """ASCII letters, digits, hyphens and underscores."""

    schema: ClassVar[JSONSchema] = {"type": "string", "pattern": _SLUG.pattern}

    def parse(self, value: str) -> str:
        if _SLUG.fullmatch(value) is None:
            raise ValueError("must be a slug: letters, digits, hyphens and underscores")
        return value

    def format(self, value: str) -> str:
        return value


class _Bounded(Generic[T]):
    """Shared ``min``/``max`` checks of the number converters."""

    json_type = "number"

    def __init__(self, min: T | None = None, max: T | None = None) -> None:
        self.min = min
        self.max = max
        self.schema: JSONSchema = {"type": self.json_type}
        if min is not None:
            self.schema["minimum"] = min
        if max is not None:
            self.schema["maximum"] = max

    def check(self, number: Any) -> None:
        if self.min is not None and number < self.min:
            raise ValueError(f"must be greater than or equal to {self.min}")
        if self.max is not None and number > self.max:
            raise ValueError(f"must be less than or equal to {self.max}")


class IntConverter(_Bounded[int]):
    """Decimal digits with an optional ``-``; ``min`` and ``max`` are inclusive."""

    json_type = "integer"

    def parse(self, value: str) -> int:
        # int() would also take "+1", " 1" and "1_000"; a URL value has one spelling.
        digits = value[1:] if value[:1] == "-" else value
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError("not a valid integer")
        number = int(value)
        self.check(number)
        return number

    def format(self, value: int) -> str:
        return str(int(value))


class FloatConverter(_Bounded[float]):
    """A finite decimal number such as ``1.5`` or ``-2e3``."""

    def parse(self, value: str) -> float:
        try:
            number = float(value) if _plain_number(value) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError("not a valid number")
        self.check(number)
        return number

    def format(self, value: float) -> str:
        return repr(float(value))


class DecimalConverter(_Bounded[Decimal]):
    """A finite decimal number kept exactly."""

    def __init__(self, min: Any = None, max: Any = None) -> None:
        super().__init__(
            None if min is None else Decimal(str(min)), None if max is None else Decimal(str(max))
        )
        self.schema = {"type": "string", "format": "decimal"}

    def parse(self, value: str) -> Decimal:
        try:
            number = Decimal(value) if _plain_number(value) else Decimal("NaN")
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise ValueError("not a valid decimal number")
        self.check(number)
        return number

    def format(self, value: Decimal) -> str:
        return str(value)


def _plain_number(value: str) -> bool:
    return value.isascii() and value.strip() == value and "_" not in value and value != ""


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class BoolConverter:
    """``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``, any case."""

    schema: ClassVar[JSONSchema] = {"type": "boolean"}

    def parse(self, value: str) -> bool:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("not a valid boolean")

    def format(self, value: bool) -> str:
        return "true" if value else "false"


class UUIDConverter:
    """A UUID in its 36-character or 32-hex-digit form."""

    schema: ClassVar[JSONSchema] = {"type": "string", "format": "uuid"}

    def parse(self, value: str) -> uuid.UUID:
        if len(value) not in (32, 36):
            raise ValueError("not a valid UUID")
        return uuid.UUID(value)

    def format(self, value: uuid.UUID) -> str:
        return str(value)


_Moment = TypeVar("_Moment", dt.date, dt.datetime, dt.time)


class _ISO8601(Generic[_Moment]):
    """A value in its ISO 8601 spelling: ``fromisoformat`` to parse, ``isoformat`` to format."""

    def __init__(self, kind: type[_Moment], name: str) -> None:
        """``name`` is both the JSON Schema format and what the error message calls a value."""
        self._fromisoformat: Callable[[str], _Moment] = kind.fromisoformat
        self._error = f"not a valid ISO 8601 {name}"
        self.schema: JSONSchema = {"type": "string", "format": name}

    def parse(self, value: str) -> _Moment:
        try:
            return self._fromisoformat(value)
        except ValueError:
            raise ValueError(self._error) from None

    def format(self, value: _Moment) -> str:
        return value.isoformat()


class DateConverter(_ISO8601[dt.date]):
    """An ISO 8601 date, ``2024-05-17``."""

    def __init__(self) -> None:
        super().__init__(dt.date, "date")


class DateTimeConverter(_ISO8601[dt.datetime]):
    """An ISO 8601 date and time, ``2024-05-17T10:30:00+00:00``."""

    def __init__(self) -> None:
        super().__init__(dt.datetime, "date-time")


class TimeConverter(_ISO8601[dt.time]):
    """An ISO 8601 time of day, ``10:30:00``."""

    def __init__(self) -> None:
        super().__init__(dt.time, "time")


# -- converters built from annotations ------------------------------------------------------------------


class ChoiceConverter:
    """One of a fixed set of values, matched by their text: an ``Enum`` or a ``Literal``."""

    def __init__(self, choices: Iterable[Any], describe: Callable[[Any], Any]) -> None:
        self.by_text = {_choice_text(choice): choice for choice in choices}
        self.schema: JSONSchema = {"enum": [describe(choice) for choice in self.by_text.values()]}

    def parse(self, value: str) -> Any:
        try:
            return self.by_text[value]
        except KeyError:
            expected = ", ".join(repr(text) for text in self.by_text)
            raise ValueError(f"must be one of {expected}") from None

    def format(self, value: Any) -> str:
        return _choice_text(value)


def _choice_text(choice: Any) -> str:
    if isinstance(choice, enum.Enum):
        choice = choice.value
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return str(choice)


class UnionConverter:
    """The first of several converters that accepts the text."""

    def __init__(self, members: list[Converter[Any]]) -> None:
        self.members = members
        self.schema: JSONSchema = {"anyOf": [schema_of(member) for member in members]}

    def parse(self, value: str) -> Any:
        errors = []
        for member in self.members:
            try:
                return member.parse(value)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))

    def format(self, value: Any) -> str:
        for member in self.members:
            try:
                text = member.format(value)
                member.parse(text)
            except (ValueError, TypeError, AttributeError):
                continue
            return text
        return str(value)


Check = Callable[[Any], None]


class ConstrainedConverter:
    """Another converter followed by ``annotated_types`` constraints (``Gt``, ``MaxLen``...)."""

    def __init__(self, base: Converter[Any], checks: list[Check], schema: JSONSchema) -> None:
        self.base = base
        self.checks = checks
        self.schema = schema

    def parse(self, value: str) -> Any:
        parsed = self.base.parse(value)
        for check in self.checks:
            check(parsed)
        return parsed

    def format(self, value: Any) -> str:
        return self.base.format(value)


class AdapterConverter:
    """Any type pydantic can validate from a string: ``EmailStr``, ``constr(...)``, models..."""

    def __init__(self, annotation: Any) -> None:
        try:
            self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        except pydantic.PydanticSchemaGenerationError as error:
            raise ConverterError(f"no converter for {annotation!r}: {error}") from None
        self.annotation = annotation

    @property
    def schema(self) -> JSONSchema:
        return self.adapter.json_schema()

    def parse(self, value: str) -> Any:
        try:
            return self.adapter.validate_strings(value)
        except pydantic.ValidationError as error:
            raise ValueError(error.errors()[0]["msg"]) from None

    def format(self, value: Any) -> str:
        return str(self.adapter.dump_python(value, mode="json"))


# -- the registry ---------------------------------------------------------------------------------------

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

_by_type: dict[Any, Converter[Any]] = {
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
    _by_type[cls] = converter
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


def converter_for(annotation: Any) -> Converter[Any]:
    """The converter for a parameter annotated with ``annotation``."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return _by_type[str]
    try:
        found = _by_type.get(annotation)
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
