"""Gzip content coding for responses (RFC 9110 section 8.4.1.3)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterable, AsyncIterator

import pyre.spec

from ..requests import Request
from ..responses import add_vary
from ..responses.base import closing_iterator
from . import CallNext

# Streams whose value is in arriving promptly, and partial content whose byte positions refer to the
# unencoded representation.
_SKIPPED_MEDIA_TYPES = (b"text/event-stream",)


class GZipMiddleware:
    """Compress responses for clients whose ``Accept-Encoding`` takes gzip.

    Bytes bodies of at least ``minimum_size`` bytes and streamed bodies are
    compressed; file bodies keep the server's sendfile path and are left as they
    are, as are responses that already have a ``Content-Encoding``, partial
    content and event streams.  Streamed chunks are flushed one by one so the
    stream keeps its timing.
    """

    def __init__(self, minimum_size: int = 500, compresslevel: int = 6) -> None:
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        response = await call_next(request)
        body = response.body
        if isinstance(body, pyre.spec.FileBody) or not _compressible(response):
            return response
        if isinstance(body, bytes) and len(body) < self.minimum_size:
            return response
        # From here the content depends on Accept-Encoding, whether or not this client takes gzip.
        headers = list(response.headers)
        add_vary(headers, b"Accept-Encoding")
        if not accepts_gzip(request.headers.get("accept-encoding")):
            response.headers = headers
            return response
        headers = [_weaken_etag(field) for field in headers if field[0] != b"content-length"]
        headers.append((b"content-encoding", b"gzip"))
        response.headers = headers
        if isinstance(body, bytes):
            response.body = gzip.compress(body, self.compresslevel, mtime=0)
        else:
            response.body = _compress_stream(body, self.compresslevel)
        return response


def _compressible(response: pyre.spec.Response) -> bool:
    if response.status < 200 or response.status in (204, 206, 304):
        return False
    for name, value in response.headers:
        if name in (b"content-encoding", b"content-range"):
            return False
        if name == b"content-type" and value.lower().startswith(_SKIPPED_MEDIA_TYPES):
            return False
    return True


def _weaken_etag(field: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    # A strong validator names exact bytes; the gzipped bytes differ (RFC 9110 section 8.8.1).
    name, value = field
    if name == b"etag" and not value.startswith(b"W/"):
        return name, b"W/" + value
    return field


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value takes gzip (RFC 9110 section 12.5.3), ``q=0`` meaning no."""
    return accepts_coding(accept_encoding, "gzip")


def accepts_coding(accept_encoding: str | None, coding: str) -> bool:
    """Whether an ``Accept-Encoding`` value takes content coding ``coding`` (lowercase), ``q=0``
    meaning no; the coding named outranks ``*``, and ``x-gzip`` is gzip (RFC 9110 section 12.5.3)."""
    if not accept_encoding:
        return False
    names = ("gzip", "x-gzip") if coding == "gzip" else (coding,)
    wildcard = False
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if name not in names and name != "*":
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name != "*":
            return weight > 0
        wildcard = weight > 0
    return wildcard


async def _compress_stream(body: AsyncIterable[bytes], level: int) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    async with closing_iterator(body) as chunks:
        async for chunk in chunks:
            data = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if data:
                yield data
    yield compressor.flush()


__all__ = [
    "GZipMiddleware",
    "accepts_coding",
    "accepts_gzip",
]
