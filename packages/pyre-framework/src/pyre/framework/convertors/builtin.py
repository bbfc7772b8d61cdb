"""The converters for one type each: strings, paths, slugs, numbers, booleans, UUIDs, dates and times.

They are hand-written because they run on every request.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, TypeVar

from .base import JSONSchema

T = TypeVar("T")


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
