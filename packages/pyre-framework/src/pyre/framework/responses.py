"""Response classes, cookies, and the coercion of handler return values.

Every class here is a ``pyre.spec.Response``: the server reads its ``status``,
``headers`` (lowercase byte names) and ``body`` directly.  Headers are encoded
once, in the constructor; the common content types are module constants.

``FileResponse`` depends on the request (validators, ``Range``): it is a
``RequestAwareResponse``, which the app completes with ``await
response.prepare(request)`` before sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import decimal
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias, TypeVar
from urllib.parse import quote

import orjson
from pydantic import BaseModel

import pyre.spec

from ._conditional import evaluate_preconditions, http_date, if_range_allows, make_etag
from ._ranges import parse_range
from .datastructures import URL

if TYPE_CHECKING:
    from .requests import Request

HeaderInput: TypeAlias = Mapping[str, str] | Sequence[tuple[str, str]] | None
"""Headers as a caller writes them: a mapping, or ``(name, value)`` pairs for repeated names."""

RawHeaderList: TypeAlias = list[tuple[bytes, bytes]]
_T = TypeVar("_T")

_CONTENT_TYPE = b"content-type"
_TEXT_PLAIN = (_CONTENT_TYPE, b"text/plain; charset=utf-8")
_TEXT_HTML = (_CONTENT_TYPE, b"text/html; charset=utf-8")
_APPLICATION_JSON = (_CONTENT_TYPE, b"application/json")
_OCTET_STREAM = (_CONTENT_TYPE, b"application/octet-stream")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")


def encode_headers(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> RawHeaderList:
    """``str`` headers as the spec's raw pairs; a name that is not a token, or CR/LF/NUL in a value, is
    a ``ValueError`` (they would let a value inject header lines)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    raw: RawHeaderList = []
    for name, value in items:
        if not _TOKEN.fullmatch(name) or _FIELD_VALUE_FORBIDDEN.search(value):
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
    return (_CONTENT_TYPE, media_type.encode("latin-1"))


def _build_headers(
    headers: HeaderInput, media_type: str | None, default: tuple[bytes, bytes] | None
) -> RawHeaderList:
    raw = encode_headers(headers) if headers is not None else []
    if any(name == _CONTENT_TYPE for name, _ in raw):
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
        if not _TOKEN.fullmatch(key):
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


@dataclasses.dataclass(slots=True)
class ServerSentEvent:
    """One server-sent event (HTML Living Standard, "Server-sent events").

    ``data`` that is not a ``str`` is sent as JSON.  ``comment`` lines are
    ignored by clients; they keep idle connections open.
    """

    data: Any = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {_single_line('event', self.event)}")
        if self.id is not None:
            if "\x00" in self.id:
                raise ValueError("a server-sent event id cannot contain NUL")
            lines.append(f"id: {_single_line('id', self.id)}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        if self.data is not None:
            data = self.data if isinstance(self.data, str) else dumps_json(self.data).decode()
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
        lines.append("\n")
        return "\n".join(lines).encode()


# The event stream format ends lines with CRLF, LF or CR; nothing else (unlike str.splitlines).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PING = b": ping\n\n"


def _single_line(field: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"a server-sent event {field} cannot contain a line break")
    return value


class EventSourceResponse(Response):
    """A ``text/event-stream`` of ``ServerSentEvent`` (or ``str``, sent as data) items.

    With ``ping`` set, a comment is sent after that many idle seconds so that
    proxies do not close a quiet stream.
    """

    __slots__ = ()

    def __init__(
        self,
        content: AsyncIterable[ServerSentEvent | str],
        status: int = 200,
        headers: HeaderInput = None,
        ping: float | None = None,
    ) -> None:
        super().__init__(b"", status, headers, "text/event-stream")
        self.headers += [(b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]
        self.body = _event_stream(content, ping)


def _encode_event(item: ServerSentEvent | str) -> bytes:
    if isinstance(item, str):
        item = ServerSentEvent(data=item)
    elif not isinstance(item, ServerSentEvent):
        raise TypeError(f"an event stream yields ServerSentEvent or str, not {type(item).__name__}")
    return item.encode()


async def _event_stream(
    content: AsyncIterable[ServerSentEvent | str], ping: float | None
) -> AsyncIterator[bytes]:
    async with closing_iterator(content) as iterator:
        if ping is None:
            async for item in iterator:
                yield _encode_event(item)
            return
        pending: asyncio.Future[ServerSentEvent | str] | None = None
        try:
            while True:
                # Waiting on the same __anext__ across pings, never cancelling it, keeps the
                # producer intact while it is quiet.
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({pending}, timeout=ping)
                if not done:
                    yield _PING
                    continue
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    return
                yield _encode_event(item)
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.wait({pending})


class RequestAwareResponse(Response):
    """A response that is finished with the request it answers.

    The app calls ``await response.prepare(request)`` once the handler (or a
    middleware) has produced it and before it is sent; calling it again does
    nothing.  Unprepared, it is still a valid response.
    """

    __slots__ = ()

    async def prepare(self, request: Request) -> None:
        raise NotImplementedError


class FileResponse(RequestAwareResponse):
    """A file sent with the server's sendfile path (``pyre.spec.FileBody``).

    Prepared with the request, it adds ``ETag``, ``Last-Modified`` and
    ``Accept-Ranges``, answers conditional requests (``304``/``412``) and
    ``Range`` requests (``206``, ``multipart/byteranges`` for several ranges,
    ``416``).  ``filename`` adds a ``Content-Disposition`` (``attachment``
    unless ``content_disposition_type`` says ``inline``).  A path that is not
    a readable regular file raises ``OSError`` from ``prepare``.
    """

    __slots__ = ("path", "_prepared")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeaderInput = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: Literal["attachment", "inline"] = "attachment",
    ) -> None:
        if media_type is None:
            media_type = mimetypes.guess_type(filename or os.fspath(path))[0] or "application/octet-stream"
        super().__init__(b"", status, headers, media_type)
        if filename is not None:
            self.headers.append(
                (b"content-disposition", _content_disposition(content_disposition_type, filename))
            )
        self.path = path
        self.body = pyre.spec.FileBody(path=path)
        self._prepared = False

    async def prepare(self, request: Request) -> None:
        if self._prepared:
            return
        self._prepared = True
        info = os.stat(self.path)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(f"{os.fspath(self.path)!r} is not a regular file")
        size = info.st_size
        etag = make_etag(info)
        modified = int(info.st_mtime)
        self.headers += [
            (b"etag", etag.encode("latin-1")),
            (b"last-modified", http_date(modified).encode("latin-1")),
            (b"accept-ranges", b"bytes"),
        ]
        self.body = pyre.spec.FileBody(path=self.path, count=size)
        if self.status != 200:
            return
        method = request.method
        headers = request.headers
        verdict = evaluate_preconditions(method, headers, etag, modified)
        if verdict is not None:
            self._empty(verdict)
            return
        range_value = headers.get("range")
        if range_value is None or method != "GET":
            return
        if_range = headers.get("if-range")
        if if_range is not None and not if_range_allows(if_range, etag, modified):
            return
        ranges = parse_range(range_value, size)
        if ranges is None:
            return
        if not ranges:
            self._empty(416)
            self.headers.append((b"content-range", f"bytes */{size}".encode("latin-1")))
        elif len(ranges) == 1:
            first, last = ranges[0]
            self.status = 206
            self.headers.append((b"content-range", f"bytes {first}-{last}/{size}".encode("latin-1")))
            self.body = pyre.spec.FileBody(path=self.path, offset=first, count=last - first + 1)
        else:
            self._multiple_ranges(ranges, size)

    def _empty(self, status: int) -> None:
        """No content; ``304``/``412``/``416`` carry validators and caching fields, not content fields."""
        self.status = status
        self.body = b""
        self.headers = [header for header in self.headers if header[0] not in _CONTENT_FIELDS]

    def _multiple_ranges(self, ranges: list[tuple[int, int]], size: int) -> None:
        # RFC 9110 section 14.6: each part has its own Content-Type and Content-Range.
        boundary = secrets.token_hex(16)
        content_type = next((value for name, value in self.headers if name == _CONTENT_TYPE), b"")
        heads = [
            b"%s--%s\r\ncontent-type: %s\r\ncontent-range: bytes %d-%d/%d\r\n\r\n"
            % (b"\r\n" if index else b"", boundary.encode(), content_type, first, last, size)
            for index, (first, last) in enumerate(ranges)
        ]
        tail = b"\r\n--%s--\r\n" % boundary.encode()
        length = (
            sum(len(head) for head in heads) + sum(last - first + 1 for first, last in ranges) + len(tail)
        )
        self.status = 206
        self.headers = [header for header in self.headers if header[0] not in _CONTENT_FIELDS]
        self.headers += [
            (_CONTENT_TYPE, f"multipart/byteranges; boundary={boundary}".encode()),
            (b"content-length", str(length).encode()),
        ]
        self.body = _read_ranges(self.path, list(zip(heads, ranges, strict=True)), tail)


_CONTENT_FIELDS = frozenset({_CONTENT_TYPE, b"content-disposition", b"content-length"})
_READ_SIZE = 64 * 1024


async def _read_ranges(
    path: str | os.PathLike[str], parts: list[tuple[bytes, tuple[int, int]]], tail: bytes
) -> AsyncIterator[bytes]:
    fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
    try:
        for head, (first, last) in parts:
            yield head
            position = first
            while position <= last:
                chunk = await asyncio.to_thread(os.pread, fd, min(_READ_SIZE, last - position + 1), position)
                if not chunk:
                    raise RuntimeError(f"{os.fspath(path)!r} shrank while it was being sent")
                yield chunk
                position += len(chunk)
        yield tail
    finally:
        os.close(fd)


def _content_disposition(kind: str, filename: str) -> bytes:
    # RFC 6266: an ASCII fallback, and RFC 8187 filename* for the exact name when it is not ASCII.
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    if filename.isascii() and not _FIELD_VALUE_FORBIDDEN.search(filename):
        return f'{kind}; filename="{quoted}"'.encode("latin-1")
    fallback = quoted.encode("ascii", "replace").decode().replace("\r", "?").replace("\n", "?")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}".encode("latin-1")


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
        response.headers = [_OCTET_STREAM]
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


__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "HeaderInput",
    "JSONResponse",
    "RedirectResponse",
    "RequestAwareResponse",
    "Response",
    "ServerSentEvent",
    "StreamingResponse",
    "TextResponse",
    "add_vary",
    "dumps_json",
    "encode_headers",
    "to_response",
]
