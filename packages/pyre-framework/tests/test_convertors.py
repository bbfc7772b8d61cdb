"""Every converter, by route pattern and by annotation; 404 in paths, 422 elsewhere."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional, Union

import annotated_types
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyre import framework
from pyre.framework import App, ConverterError, convertors
from pyre.framework.testing import TestClient


def serve(pattern: str, annotation: Any = str) -> TestClient:
    """A client for an app with one endpoint on ``pattern`` echoing its ``value``."""

    async def handler(value):  # type: ignore[no-untyped-def]
        shown = value if isinstance(value, int | float | bool | str | None) else str(value)
        return {"value": shown, "type": type(value).__name__}

    handler.__annotations__ = {"value": annotation}

    app = App()
    app.add_endpoint(pattern, handler)
    return TestClient(app)


@pytest.mark.parametrize(
    ("pattern", "text", "value", "kind"),
    [
        ("string", "abc", "abc", "str"),
        ("str", "a b", "a b", "str"),
        ("int", "42", 42, "int"),
        ("int", "-7", -7, "int"),
        ("float", "1.5", 1.5, "float"),
        ("float", "-2e3", -2000.0, "float"),
        ("decimal", "1.10", "1.10", "Decimal"),
        ("bool", "true", True, "bool"),
        ("bool", "OFF", False, "bool"),
        ("uuid", "12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234-567812345678", "UUID"),
        ("slug", "my-post_1", "my-post_1", "str"),
        ("date", "2024-05-17", "2024-05-17", "date"),
        ("datetime", "2024-05-17T10:30:00", "2024-05-17 10:30:00", "datetime"),
        ("time", "10:30", "10:30:00", "time"),
        ("int(min=1,max=10)", "10", 10, "int"),
        ("string(max_length=3)", "abc", "abc", "str"),
        ("float(min=0)", "0.0", 0.0, "float"),
    ],
)
def test_pattern_converters_accept(pattern: str, text: str, value: Any, kind: str) -> None:
    response = serve(f"/x/{{value:{pattern}}}", Any).get(f"/x/{text}")
    assert response.status_code == 200
    assert response.json() == {"value": value, "type": kind}


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("int", "4.2"),
        ("int", "+4"),
        ("int", "1_000"),
        ("int", "٣"),
        ("float", "nan"),
        ("float", "inf"),
        ("float", "1_0"),
        ("decimal", "Infinity"),
        ("decimal", "x"),
        ("bool", "maybe"),
        ("uuid", "1234"),
        ("slug", "no spaces"),
        ("slug", "é"),
        ("date", "2024-13-01"),
        ("datetime", "yesterday"),
        ("time", "25:00"),
        ("int(min=1,max=10)", "0"),
        ("int(min=1,max=10)", "11"),
        ("string(max_length=3)", "abcd"),
        ("decimal(max=1)", "1.5"),
    ],
)
def test_pattern_converters_reject_with_404(pattern: str, text: str) -> None:
    response = serve(f"/x/{{value:{pattern}}}", Any).get(f"/x/{text}")
    assert response.status_code == 404


def test_path_converter() -> None:
    client = serve("/static/{value:path}")
    assert client.get("/static/css/site.css").json() == {"value": "css/site.css", "type": "str"}


def test_unknown_converter_and_bad_arguments() -> None:
    async def handler(value: int) -> None: ...

    with pytest.raises(ConverterError, match="unknown converter 'integer'"):
        App().add_endpoint("/{value:integer}", handler)
    with pytest.raises(ConverterError, match="bad arguments"):
        App().add_endpoint("/{value:int(least=1)}", handler)
    with pytest.raises(ConverterError, match="name=literal"):
        App().add_endpoint("/{value:int(min=len('x'))}", handler)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@pytest.mark.parametrize(
    ("annotation", "text", "value", "kind"),
    [
        (int, "5", 5, "int"),
        (float, "0.25", 0.25, "float"),
        (str, "hi", "hi", "str"),
        (bool, "yes", True, "bool"),
        (uuid.UUID, "12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678", "UUID"),
        (Decimal, "3.14", "3.14", "Decimal"),
        (dt.date, "2020-02-29", "2020-02-29", "date"),
        (dt.datetime, "2020-02-29T12:00:00+01:00", "2020-02-29 12:00:00+01:00", "datetime"),
        (dt.time, "23:59:59", "23:59:59", "time"),
        (Color, "green", "Color.GREEN", "Color"),
        (Level, "2", 2, "Level"),
        (Literal["a", "b"], "b", "b", "str"),
        (Literal[1, 2], "2", 2, "int"),
        (Optional[int], "3", 3, "int"),  # noqa: UP045 - the spelling under test
        (Union[int, str], "3", 3, "int"),  # noqa: UP007
        (Union[int, str], "x", "x", "str"),  # noqa: UP007
        (str | int, "3", "3", "str"),
        (Annotated[int, annotated_types.Gt(0)], "1", 1, "int"),
        (Annotated[int, pydantic.Field(ge=5, le=6)], "6", 6, "int"),
        (Annotated[str, annotated_types.MaxLen(2)], "ab", "ab", "str"),
        (pydantic.PositiveInt, "9", 9, "int"),
        (Annotated[str, pydantic.StringConstraints(pattern=r"^[a-c]+$")], "abc", "abc", "str"),
        (pydantic.conint(multiple_of=3), "9", 9, "int"),
    ],
)
def test_annotation_converters(annotation: Any, text: str, value: Any, kind: str) -> None:
    by_path = serve("/x/{value}", annotation).get(f"/x/{text}")
    assert by_path.json() == {"value": value, "type": kind}
    by_query = serve("/q", annotation).get("/q", params={"value": text})
    assert by_query.json() == {"value": value, "type": kind}


@pytest.mark.parametrize(
    ("annotation", "text", "message"),
    [
        (int, "five", "not a valid integer"),
        (float, "x", "not a valid number"),
        (bool, "2", "not a valid boolean"),
        (uuid.UUID, "nope", "not a valid UUID"),
        (Decimal, "1e", "not a valid decimal number"),
        (dt.date, "2021-02-29", "not a valid ISO 8601 date"),
        (Color, "blue", "must be one of 'red', 'green'"),
        (Literal["a", "b"], "c", "must be one of 'a', 'b'"),
        (Union[int, bool], "x", "not a valid integer; not a valid boolean"),  # noqa: UP007
        (Annotated[int, annotated_types.Gt(0)], "0", "must be greater than 0"),
        (Annotated[int, pydantic.Field(ge=5, le=6)], "7", "must be less than or equal to 6"),
        (Annotated[str, annotated_types.MinLen(3)], "ab", "must have at least 3 characters"),
        (pydantic.conint(multiple_of=3), "10", "Input should be a multiple of 3"),
    ],
)
def test_annotation_converters_reject(annotation: Any, text: str, message: str) -> None:
    assert serve("/x/{value}", annotation).get(f"/x/{text}").status_code == 404
    response = serve("/q", annotation).get("/q", params={"value": text})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["query", "value"], "msg": message, "type": "value_error"}]}


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class PointConverter:
    def parse(self, value: str) -> Point:
        x, comma, y = value.partition(",")
        if not comma:
            raise ValueError("expected x,y")
        return Point(int(x), int(y))

    def format(self, value: Point) -> str:
        return f"{value.x},{value.y}"


def test_user_class_with_a_registered_converter() -> None:
    convertors.register_converter(Point, PointConverter(), name="point")

    class Geo(framework.Blueprint):
        @framework.endpoint("/at/{where}")
        async def at(self, where: Point) -> dict[str, int]:
            return {"x": where.x, "y": where.y}

        @framework.endpoint("/named/{where:point}")
        async def named(self, where: Point) -> dict[str, int]:
            return {"x": where.x, "y": where.y}

        @framework.endpoint("/query")
        async def query(self, where: Point) -> dict[str, int]:
            return {"x": where.x, "y": where.y}

    app = App()
    app.add_blueprint(Geo())
    client = TestClient(app)
    assert client.get("/at/1,2").json() == {"x": 1, "y": 2}
    assert client.get("/named/3,4").json() == {"x": 3, "y": 4}
    assert client.get("/at/12").status_code == 404
    assert client.get("/query", params={"where": "5,6"}).json() == {"x": 5, "y": 6}
    assert client.get("/query", params={"where": "5"}).json()["detail"][0]["msg"] == "expected x,y"
    assert app.url_for("Geo.at", where=Point(7, 8)) == "/at/7%2C8"


class Opaque:
    pass


def test_unconvertible_annotation_is_a_registration_error() -> None:
    async def handler(value: Opaque) -> None: ...

    with pytest.raises(ConverterError, match="no converter"):
        App().add_endpoint("/{value}", handler)
    with pytest.raises(ConverterError, match="parameter 'value': no converter"):
        App().add_endpoint("/", handler)


@given(st.integers())
def test_int_round_trip(number: int) -> None:
    converter = convertors.IntConverter()
    assert converter.parse(converter.format(number)) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trip(number: float) -> None:
    converter = convertors.FloatConverter()
    assert converter.parse(converter.format(number)) == number


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trip(number: Decimal) -> None:
    converter = convertors.DecimalConverter()
    assert converter.parse(converter.format(number)) == number


_OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))


@given(st.datetimes(timezones=st.none() | _OFFSETS))
def test_datetime_round_trip(moment: dt.datetime) -> None:
    converter = convertors.DateTimeConverter()
    assert converter.parse(converter.format(moment)) == moment


@given(st.uuids())
def test_uuid_round_trip(value: uuid.UUID) -> None:
    converter = convertors.UUIDConverter()
    assert converter.parse(converter.format(value)) == value


@given(st.text())
def test_int_converter_never_raises_anything_but_value_error(text: str) -> None:
    for converter in (convertors.IntConverter(), convertors.FloatConverter(), convertors.DecimalConverter()):
        try:
            converter.parse(text)
        except ValueError:
            pass
