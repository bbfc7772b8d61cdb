"""Reading the fields of an ASGI application's messages into what pyre-spec wants.

The ASGI spec types a header list as "an iterable of ``[name, value]``
two-item iterables" of byte strings, and apps send every shape of it: lists of
tuples (Starlette), lists of lists (the spec's own examples), ``bytearray`` or
``memoryview`` values.  A pyre-spec ``Response`` takes ``(bytes, bytes)``
pairs with lowercase names and a ``bytes`` body, so the translation happens
here, at the boundary, once per message.  What cannot be translated is the
application's error: an ``ASGIProtocolError`` naming the message.

Header names are lowercased (ASGI: "Header names must be lowercased"; uvicorn
lowercases whatever it gets).  Whether a name is a token and a value free of
CR, LF and NUL stays the server's check, made where the bytes are written.
"""

from __future__ import annotations

from typing import Any

from ._errors import ASGIProtocolError


def header_pairs(headers: Any, kind: str) -> list[tuple[bytes, bytes]]:
    """``headers`` of an ASGI message of type ``kind`` as ``(name, value)`` bytes, names lowercased."""
    try:
        # One pass; the test keeps exact bytes (nearly every app's) off the slower conversion.
        return [
            (name.lower(), value) if type(name) is bytes and type(value) is bytes else _pair(name, value)
            for name, value in headers
        ]
    except (TypeError, ValueError):
        raise ASGIProtocolError(f"{kind!r} message: {_what_is_wrong(headers)}") from None


def _pair(name: Any, value: Any) -> tuple[bytes, bytes]:
    # memoryview takes exactly the bytes-like objects: bytes(5) would be five NULs, bytes("x") a TypeError.
    return memoryview(name).tobytes().lower(), memoryview(value).tobytes()


def _what_is_wrong(headers: Any) -> str:
    """Why ``headers`` is not an iterable of two-item iterables of bytes-like objects (cold path)."""
    try:
        items = list(headers)
    except TypeError:
        return f"headers {headers!r} are not an iterable of [name, value] pairs"
    for item in items:
        try:
            name, value = item
            _pair(name, value)
        except (TypeError, ValueError):
            return f"header {item!r} is not a [name, value] pair of byte strings"
    return f"headers {headers!r} are not an iterable of [name, value] pairs"


def body_bytes(body: Any, kind: str) -> bytes:
    """The ``body`` (or ``bytes``) field of an ASGI message as ``bytes``: copied once if bytes-like."""
    try:
        return memoryview(body).tobytes()
    except TypeError:
        raise ASGIProtocolError(f"{kind!r} message: body {body!r:.80} is not a byte string") from None


def final_status(status: Any, kind: str) -> int:
    """The ``status`` of an ASGI response start as an ``int`` from 200 to 599 (an ``IntEnum`` will do)."""
    if isinstance(status, int) and not isinstance(status, bool) and 200 <= status <= 599:
        return int(status)
    raise ASGIProtocolError(f"{kind!r} message: status {status!r} is not a final status code (200-599)")
