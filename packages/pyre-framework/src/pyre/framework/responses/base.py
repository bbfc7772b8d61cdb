"""The response classes with their content at hand, the header encoding, and cookies.

Every class here is a ``pyre.spec.Response``: the server reads its ``status``,
``headers`` (lowercase byte names) and ``body`` directly.  Headers are encoded
once, in the constructor; the common content types are module constants.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import email.utils
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias, TypeVar
from urllib.parse import quote

import orjson
from pydantic import BaseModel

import pyre.spec

from ..datastructures import URL

if TYPE_CHECKING:
    from ..requests import Request

HeaderInput: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]] | None
"""Headers as a caller writes them: a mapping, or ``(name, value)`` pairs for repeated names."""

RawHeaderList: TypeAlias = list[tuple[bytes, bytes]]
_T = TypeVar("_T")

CONTENT_TYPE = b"content-type"
_TEXT_PLAIN = (CONTENT_TYPE, b"text/plain; charset=utf-8")
_TEXT_HTML = (CONTENT_TYPE, b"text/html; charset=utf-8")
_APPLICATION_JSON = (CONTENT_TYPE, b"application/json")
OCTET_STREAM = (CONTENT_TYPE, b"application/octet-stream")


def encode_headers(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> RawHeaderList:
    """``str`` headers as the spec's raw pairs; a name that is not a token, or CR/LF/NUL in a value, is
    a ``ValueError`` (they would let a value inject header lines)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    raw: RawHeaderList = []
    for name, value in items:
        if not pyre.spec.is_token(name) or not pyre.spec.is_field_value(value):
            raise ValueError(f"invalid header field {name!r}: {value!r}")
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return raw


def add_vary(headers: list[tuple[bytes, bytes]], name: bytes) -> None:
    """Add ``name`` to ``Vary`` unless it is already listed or the response varies on everything."""
    lowered = name.lower()
    for field, value in headers:
        if field == b"vary":
            listed = {item.strip().lower() for item in value.split(b",")}
            if lowered in listed or b"*" in listed:
                return
    headers.append((b"vary", name))


def _media_type_header(media_type: str) -> tuple[bytes, bytes]:
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return (CONTENT_TYPE, media_type.encode("latin-1"))


def _build_headers(
    headers: HeaderInput, media_type: str | None, default: tuple[bytes, bytes] | None
) -> RawHeaderList:
    raw = encode_headers(headers) if headers is not None else []
    if any(name == CONTENT_TYPE for name, _ in raw):
        return raw
    content_type = _media_type_header(media_type) if media_type is not None else default
    if content_type is not None:
        raw.insert(0, content_type)
    return raw


class Response(pyre.spec.Response):
    """A response with complete content; ``str`` content is encoded as UTF-8.

    ``media_type`` sets ``Content-Type`` (with ``charset=utf-8`` added for
    ``text/*``) unless ``headers`` already has one; without either, a subclass
    has its own default.
    """

    __slots__ = ()

    headers: RawHeaderList
    _default_content_type: ClassVar[tuple[bytes, bytes] | None] = None

    def __init__(
        self,
        content: bytes | str = b"",
        status: int = 200,
        headers: HeaderInput = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = content.encode() if isinstance(content, str) else content
        default = self._default_content_type
        if headers is None and media_type is None:
            self.headers = [] if default is None else [default]
        else:
            self.headers = _build_headers(headers, media_type, default)
        self.trailers = None
        self.upgrade = None

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime.datetime | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` field (RFC 6265 section 4.1).

        ``expires`` is a datetime or a number of seconds from now.  A ``value``
        outside the cookie-octet set (space, ``"``, ``,``, ``;``, ``\\``,
        non-ASCII) is a ``ValueError``: encode such values first.
        """
        if not pyre.spec.is_token(key):
            raise ValueError(f"cookie name {key!r} is not a token")
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(f"cookie value {value!r} has characters a cookie cannot carry; encode it")
        parts = [f"{key}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            if isinstance(expires, datetime.datetime):
                timestamp = expires.timestamp()
            else:
                timestamp = datetime.datetime.now(datetime.UTC).timestamp() + expires
            parts.append(f"Expires={http_date(timestamp)}")
        for attribute, attribute_value in (("Path", path), ("Domain", domain)):
            if attribute_value is not None:
                if not _COOKIE_ATTRIBUTE.fullmatch(attribute_value):
                    raise ValueError(f"cookie {attribute} {attribute_value!r} is invalid")
                parts.append(f"{attribute}={attribute_value}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            if samesite not in ("lax", "strict", "none"):
                raise ValueError(f"samesite must be 'lax', 'strict' or 'none', not {samesite!r}")
            parts.append(f"SameSite={samesite.capitalize()}")
        self.headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Tell the client to drop cookie ``key``; ``path`` and ``domain`` must be those it was set with."""
        self.set_cookie(
            key,
            max_age=0,
            expires=_EPOCH,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )


# RFC 6265 section 4.1.1: cookie-octet, optionally in double quotes.
_COOKIE_VALUE = re.compile(r'"?[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"?')
_COOKIE_ATTRIBUTE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class _TextContent(Response):
    """A response whose content is a ``str``, sent as UTF-8."""

    __slots__ = ()

    def __init__(
        self, content: str = "", status: int = 200, headers: HeaderInput = None, media_type: str | None = None
    ) -> None:
        # Response.__init__ named rather than super(): this runs for every str a handler returns.
        Response.__init__(self, content.encode(), status, headers, media_type)


class TextResponse(_TextContent):
    """``text/plain; charset=utf-8``."""

    __slots__ = ()

    _default_content_type = _TEXT_PLAIN


class HTMLResponse(_TextContent):
    """``text/html; charset=utf-8``."""

    __slots__ = ()

    _default_content_type = _TEXT_HTML


def _json_default(value: Any) -> Any:
    # orjson encodes dataclasses, datetimes, UUIDs and enums itself; the rest comes here.
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON (orjson; pydantic models as ``model_dump(mode="json")``)."""
    try:
        return orjson.dumps(content, default=_json_default)
    except orjson.JSONEncodeError:
        # Non-str dict keys are the one thing json.dumps accepts that orjson's fast path refuses.
        return orjson.dumps(content, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


class JSONResponse(Response):
    """``application/json``, encoded with orjson; pydantic models and dataclasses included."""

    __slots__ = ()

    _default_content_type = _APPLICATION_JSON

    def __init__(
        self, content: Any, status: int = 200, headers: HeaderInput = None, media_type: str | None = None
    ) -> None:
        Response.__init__(self, dumps_json(content), status, headers, media_type)


class RedirectResponse(Response):
    """A redirect to ``url``; ``307`` keeps the method and body, use ``303`` after a form POST."""

    __slots__ = ()

    def __init__(self, url: str | URL, status: int = 307, headers: HeaderInput = None) -> None:
        super().__init__(b"", status, headers)
        # Non-ASCII and spaces must be percent-encoded to be a valid URI reference.
        location = quote(str(url), safe=":/%#?=@[]!$&'()*+,;~")
        self.headers.append((b"location", location.encode("ascii")))


class StreamingResponse(Response):
    """Content from an async or sync iterable of ``bytes``/``str`` chunks, sent as they come.

    A sync iterable is advanced in a worker thread, since producing a chunk may block.
    """

    __slots__ = ()

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: HeaderInput = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(b"", status, headers, media_type)
        if isinstance(content, AsyncIterable):
            self.body = _encode_chunks(content)
        else:
            self.body = _encode_chunks(_iterate_in_thread(iter(content)))


async def _encode_chunks(content: AsyncIterable[bytes | str]) -> AsyncIterator[bytes]:
    async with closing_iterator(content) as iterator:
        async for chunk in iterator:
            yield chunk.encode() if isinstance(chunk, str) else chunk


@contextlib.asynccontextmanager
async def closing_iterator(content: AsyncIterable[_T]) -> AsyncIterator[AsyncIterator[_T]]:
    """An iterator over ``content`` that is closed with the generator using it.

    When the server closes a response body early (the client left), only the
    outer generator is closed; this passes that on to the producer.
    """
    iterator = aiter(content)
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


_EXHAUSTED: Any = object()


async def _iterate_in_thread(iterator: Iterator[bytes | str]) -> AsyncIterator[bytes | str]:
    while (chunk := await asyncio.to_thread(next, iterator, _EXHAUSTED)) is not _EXHAUSTED:
        yield chunk


class RequestAwareResponse(Response):
    """A response that is finished with the request it answers.

    The app calls ``await response.prepare(request)`` once the handler (or a
    middleware) has produced it and before it is sent; calling it again does
    nothing.  Unprepared, it is still a valid response.
    """

    __slots__ = ()

    async def prepare(self, request: Request) -> None:
        raise NotImplementedError


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7)."""
    return email.utils.formatdate(timestamp, usegmt=True)
