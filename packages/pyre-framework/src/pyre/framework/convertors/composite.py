"""Converters built from annotations: choices (``Enum``, ``Literal``), unions, constrained types,
and anything else pydantic can validate from a string."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

import pydantic

from ..exceptions import ConverterError
from .base import Converter, JSONSchema, schema_of


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
