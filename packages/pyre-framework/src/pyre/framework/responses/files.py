"""File responses: validators, conditional requests (RFC 9110 section 13) and byte ranges (section 14).

``FileResponse`` depends on the request (validators, ``Range``): it is a
``RequestAwareResponse``, which the app completes with ``await
response.prepare(request)`` before sending it.
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

import pyre.spec

from .base import CONTENT_TYPE, HeaderInput, RequestAwareResponse, http_date

if TYPE_CHECKING:
    from ..requests import Request


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
        content_type = next((value for name, value in self.headers if name == CONTENT_TYPE), b"")
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
            (CONTENT_TYPE, f"multipart/byteranges; boundary={boundary}".encode()),
            (b"content-length", str(length).encode()),
        ]
        self.body = _read_ranges(self.path, list(zip(heads, ranges, strict=True)), tail)


_CONTENT_FIELDS = frozenset({CONTENT_TYPE, b"content-disposition", b"content-length"})


async def _read_ranges(
    path: str | os.PathLike[str], parts: list[tuple[bytes, tuple[int, int]]], tail: bytes
) -> AsyncIterator[bytes]:
    """The parts of a ``multipart/byteranges`` body; each range is read by ``pyre.spec.open_file_body``
    (off the event loop, ``FileTooShort`` if the file shrank)."""
    for head, (first, last) in parts:
        yield head
        region = pyre.spec.FileBody(path=path, offset=first, count=last - first + 1)
        reader = await pyre.spec.open_file_body(region)
        try:
            async for chunk in reader:
                yield chunk
        finally:
            await reader.aclose()
    yield tail


def _content_disposition(kind: str, filename: str) -> bytes:
    # RFC 6266: an ASCII fallback, and RFC 8187 filename* for the exact name when it is not ASCII.
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    if filename.isascii() and pyre.spec.is_field_value(filename):
        return f'{kind}; filename="{quoted}"'.encode("latin-1")
    fallback = quoted.encode("ascii", "replace").decode().replace("\r", "?").replace("\n", "?")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}".encode("latin-1")


# -- validators and conditional requests (RFC 9110 sections 8.8 and 13) --------------------------------

_ENTITY_TAG = re.compile(r'[\s,]*(W/)?("[^"]*")\s*(?:,|$)')


def make_etag(stat: os.stat_result) -> str:
    """A strong entity tag that changes whenever the file's size or modification time does.

    Strong, as nginx's is, so that ``If-Match`` and ``If-Range`` (which use the
    strong comparison, RFC 9110 section 8.8.3.2) can match it.
    """
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch, or ``None`` for an invalid date (which makes the field ignored)."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp())


def _entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """``(weak, opaque-tag)`` pairs of an ``If-Match``/``If-None-Match`` list; ``None`` when malformed."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(value):
        if not value[position:].strip(" \t,"):
            break
        match = _ENTITY_TAG.match(value, position)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags


def _strong_match(value: str, etag: str) -> bool:
    # RFC 9110 section 8.8.3.2: both tags strong and identical.
    if value.strip() == "*":
        return True
    tags = _entity_tags(value)
    return tags is not None and any(not weak and tag == etag for weak, tag in tags)


def _weak_match(value: str, etag: str) -> bool:
    if value.strip() == "*":
        return True
    tags = _entity_tags(value)
    return tags is not None and any(tag == etag for _, tag in tags)


def evaluate_preconditions(method: str, headers: pyre.spec.Headers, etag: str, modified: int) -> int | None:
    """``412``, ``304`` or ``None`` (go on) for a request's preconditions on a representation.

    The order is RFC 9110 section 13.2.2.  ``modified`` is the Last-Modified
    time in whole seconds, the resolution an HTTP-date has.
    """
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _strong_match(if_match, etag):
            return 412
    else:
        since = headers.get("if-unmodified-since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and modified > date:
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _weak_match(if_none_match, etag):
            return 304 if safe else 412
    elif safe:
        since = headers.get("if-modified-since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and modified <= date:
            return 304
    return None


def if_range_allows(value: str, etag: str, modified: int) -> bool:
    """Whether an ``If-Range`` validator still matches, so the ``Range`` applies (section 13.1.5)."""
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    return parse_http_date(value) == modified


# -- byte ranges (RFC 9110 section 14) -------------------------------------------------------------------

MAX_RANGES = 100
"""More range-specs than this and the ``Range`` field is ignored (section 14.2 allows it)."""

# More digits than this cannot be a position in a file; int() of longer text is also slow.
_MAX_DIGITS = 18


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a ``Range`` field as sorted, merged ``(first, last)`` pairs.

    ``None`` means ignore the field and send the whole representation: another
    unit, bad syntax, or too many ranges.  An empty list means no range is
    satisfiable: answer ``416``.
    """
    unit, equals, specs = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    pieces = [piece.strip() for piece in specs.split(",")]
    pieces = [piece for piece in pieces if piece]
    if not pieces or len(pieces) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for piece in pieces:
        first_text, dash, last_text = piece.partition("-")
        if not dash:
            return None
        if not first_text:
            # suffix-range: the last N bytes
            suffix = _position(last_text)
            if suffix is None:
                return None
            if suffix > 0 and size > 0:
                ranges.append((max(0, size - suffix), size - 1))
            continue
        first = _position(first_text)
        last = _position(last_text) if last_text else first
        if first is None or last is None or last < first:
            return None
        if not last_text:
            last = size - 1
        if first < size:
            ranges.append((first, min(last, size - 1)))
    return _merge(ranges)


def _position(text: str) -> int | None:
    if not text.isdigit() or not text.isascii():
        return None
    return int(text) if len(text) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping and adjacent ranges joined, so no byte is sent twice."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
