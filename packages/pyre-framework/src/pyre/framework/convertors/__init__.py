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

from .annotations import converter_for as converter_for
from .annotations import is_model as is_model
from .base import Converter as Converter
from .base import JSONSchema as JSONSchema
from .base import schema_of as schema_of
from .builtin import BoolConverter as BoolConverter
from .builtin import DateConverter as DateConverter
from .builtin import DateTimeConverter as DateTimeConverter
from .builtin import DecimalConverter as DecimalConverter
from .builtin import FloatConverter as FloatConverter
from .builtin import IntConverter as IntConverter
from .builtin import PathConverter as PathConverter
from .builtin import SlugConverter as SlugConverter
from .builtin import StringConverter as StringConverter
from .builtin import TimeConverter as TimeConverter
from .builtin import UUIDConverter as UUIDConverter
from .composite import AdapterConverter as AdapterConverter
from .composite import ChoiceConverter as ChoiceConverter
from .composite import ConstrainedConverter as ConstrainedConverter
from .composite import UnionConverter as UnionConverter
from .registry import converter_from_pattern as converter_from_pattern
from .registry import register_converter as register_converter

__all__ = [
    "AdapterConverter",
    "BoolConverter",
    "ChoiceConverter",
    "ConstrainedConverter",
    "Converter",
    "DateConverter",
    "DateTimeConverter",
    "DecimalConverter",
    "FloatConverter",
    "IntConverter",
    "JSONSchema",
    "PathConverter",
    "SlugConverter",
    "StringConverter",
    "TimeConverter",
    "UUIDConverter",
    "UnionConverter",
    "converter_for",
    "converter_from_pattern",
    "is_model",
    "register_converter",
    "schema_of",
]
