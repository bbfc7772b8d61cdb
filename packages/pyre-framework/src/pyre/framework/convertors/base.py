"""The converter protocol and the JSON Schema a converter describes its values with."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

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
