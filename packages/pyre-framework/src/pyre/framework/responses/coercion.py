"""What a handler's return value becomes: ``to_response``, the one coercion of the framework."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

import pyre.spec

from .base import OCTET_STREAM, JSONResponse, Response, TextResponse, encode_headers


def to_response(value: Any) -> pyre.spec.Response:
    """The response for a handler's return value.

    A ``pyre.spec.Response`` is returned as it is; ``str`` is text; ``dict``,
    ``list``, numbers, booleans, pydantic models and dataclasses are JSON;
    ``bytes`` is ``application/octet-stream``; ``None`` is ``204 No Content``;
    a tuple is ``(body, status)`` or ``(body, status, headers)``.
    """
    kind = type(value)
    if kind is str:
        return TextResponse(value)
    if kind is dict:
        return JSONResponse(value)
    if isinstance(value, pyre.spec.Response):
        return value
    if kind is list:
        return JSONResponse(value)
    if value is None:
        return Response(status=204)
    if kind is tuple:
        return _from_tuple(value)
    if isinstance(value, bytes | bytearray | memoryview):
        response = Response(bytes(value))
        response.headers = [OCTET_STREAM]
        return response
    if isinstance(value, str):
        return TextResponse(value)
    if isinstance(value, dict | list | int | float | BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return JSONResponse(value)
    raise TypeError(f"a handler returned {kind.__name__}, which cannot be made into a response")


def _from_tuple(value: tuple[Any, ...]) -> pyre.spec.Response:
    if len(value) not in (2, 3) or not isinstance(value[1], int):
        raise TypeError("a handler may return (body, status) or (body, status, headers)")
    response = to_response(value[0])
    response.status = value[1]
    if len(value) == 3 and value[2]:
        extra = encode_headers(value[2])
        names = {name for name, _ in extra}
        response.headers = [header for header in response.headers if header[0] not in names] + extra
    return response
