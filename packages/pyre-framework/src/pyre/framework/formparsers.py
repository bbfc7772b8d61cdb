"""Form bodies: ``application/x-www-form-urlencoded`` and streamed ``multipart/form-data``.

The multipart parser (RFC 7578 over RFC 2046 section 5.1) is fed chunks as they
arrive and keeps at most one part header section, or the last few bytes of a
part, in memory; file parts go straight to their ``UploadFile``.  Every size
that a client controls has a limit in ``FormLimits``.

Errors are ``HTTPException``: 400 for malformed content, 413 for a passed limit,
415 for a content type that is not a form.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import pyre.spec

from .datastructures import FormData, UploadFile
from .exceptions import HTTPException

_KIB = 1024
_MIB = 1024 * _KIB


@dataclass(frozen=True, slots=True)
class FormLimits:
    """How much of a form body is accepted before answering ``413``."""

    max_fields: int = 1000
    """Text fields (urlencoded pairs, or multipart parts without a filename)."""
    max_files: int = 1000
    """Multipart parts with a filename."""
    max_text_size: int = 1 * _MIB
    """Bytes of all text fields together: a whole urlencoded body, or every text part."""
    max_file_size: int = 100 * _MIB
    """Bytes of one uploaded file."""
    max_part_header_size: int = 16 * _KIB
    """Bytes of one part's header section."""


DEFAULT_LIMITS = FormLimits()


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    """A field like ``Content-Type``: its lowercased main value and its parameters.

    Parameter names are lowercased; quoted values are unquoted (RFC 9110
    section 5.6.4); an RFC 8187 ``name*=charset''value`` replaces ``name``.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAMETER.finditer(";" + rest):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        if name.endswith("*"):
            charset, _, encoded = raw.partition("''")
            try:
                params[name[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            params.setdefault(name, raw)
    return main.strip().lower(), params


_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\([\\\"])")


def parse_urlencoded(body: bytes, limits: FormLimits = DEFAULT_LIMITS) -> FormData:
    """The ``name=value`` pairs of an urlencoded body; names and values are UTF-8."""
    if len(body) > limits.max_text_size:
        raise HTTPException(413, f"form body exceeds {limits.max_text_size} bytes")
    try:
        # Raw non-ASCII (curl -d) and percent-escapes (browsers) are both read as UTF-8.
        pairs = parse_qsl(
            body.decode(), keep_blank_values=True, errors="strict", max_num_fields=limits.max_fields
        )
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "form field is not valid UTF-8") from exc
    except ValueError as exc:
        raise HTTPException(413, f"form has more than {limits.max_fields} fields") from exc
    return FormData(pairs)


async def parse_multipart(
    content_type: str, chunks: AsyncIterable[bytes], limits: FormLimits = DEFAULT_LIMITS
) -> FormData:
    """Stream a ``multipart/form-data`` body from ``chunks`` into a ``FormData``."""
    _, params = parse_options_header(content_type)
    boundary = params.get("boundary", "")
    # RFC 2046 section 5.1.1: 1 to 70 characters.
    if not 0 < len(boundary) <= 70:
        raise HTTPException(400, "multipart boundary is missing or invalid")
    parser = MultipartParser(boundary.encode("latin-1"), limits)
    try:
        async for chunk in chunks:
            await parser.feed(chunk)
        return parser.finish()
    except BaseException:
        await parser.discard()
        raise


# Parser states; a part is the header section plus the content after it.
_PREAMBLE = "preamble"
_AFTER_DELIMITER = "after delimiter"
_HEADERS = "headers"
_CONTENT = "content"
_EPILOGUE = "epilogue"

# The bytes after a delimiter up to its CRLF: only transport padding (RFC 2046 LWSP) belongs there.
_MAX_DELIMITER_LINE = 256


class MultipartParser:
    """An incremental ``multipart/form-data`` parser; see the module docstring."""

    def __init__(self, boundary: bytes, limits: FormLimits) -> None:
        # A delimiter is CRLF "--" boundary; the leading CRLF belongs to it, not to the content
        # before it.  The body starts with a CRLF of our own so a delimiter on the first line
        # needs no special case.
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._limits = limits
        self._items: list[tuple[str, str | UploadFile]] = []
        self._fields = 0
        self._files = 0
        self._text_size = 0
        self._name = ""
        self._charset = "utf-8"
        self._text = bytearray()
        self._file: UploadFile | None = None
        self._header_scan = 0

    async def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while await self._step():
            pass

    def finish(self) -> FormData:
        if self._state != _EPILOGUE:
            raise HTTPException(400, "multipart body ended before its close delimiter")
        return FormData(self._items)

    async def discard(self) -> None:
        """Close the files of a form that will not be returned."""
        if self._file is not None:
            await self._file.close()
        await FormData(self._items).close()

    async def _step(self) -> bool:
        """Consume what the buffer allows in the current state; whether to run again."""
        buffer = self._buffer
        if self._state == _PREAMBLE:
            found = buffer.find(self._delimiter)
            if found < 0:
                del buffer[: max(0, len(buffer) - len(self._delimiter) + 1)]
                return False
            del buffer[: found + len(self._delimiter)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            return self._after_delimiter()
        if self._state == _HEADERS:
            return await self._headers()
        if self._state == _CONTENT:
            return await self._content()
        buffer.clear()  # the epilogue is ignored (RFC 2046 section 5.1.1)
        return False

    def _after_delimiter(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        if buffer.startswith(b"--"):
            self._state = _EPILOGUE
            return True
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            if len(buffer) > _MAX_DELIMITER_LINE:
                raise HTTPException(400, "multipart delimiter line is malformed")
            return False
        if buffer[:line_end].strip(b" \t"):
            raise HTTPException(400, "multipart delimiter line is malformed")
        del buffer[: line_end + 2]
        self._state = _HEADERS
        return True

    async def _headers(self) -> bool:
        buffer = self._buffer
        limit = self._limits.max_part_header_size
        if buffer.startswith(b"\r\n"):
            end = 0
        else:
            # Resume where the last search stopped: headers fed a byte at a time stay linear.
            found = buffer.find(b"\r\n\r\n", self._header_scan)
            end = found + 2 if found >= 0 else -1
            self._header_scan = max(0, len(buffer) - 3) if found < 0 else 0
        if end < 0 or end > limit:
            # Unterminated so far: the section is too long once it cannot end within the limit.
            if end > limit or len(buffer) > limit + 4:
                raise HTTPException(413, f"multipart part headers exceed {limit} bytes")
            return False
        raw = _parse_part_headers(bytes(buffer[:end]))
        del buffer[: end + 2]
        await self._start_part(raw)
        self._state = _CONTENT
        return True

    async def _content(self) -> bool:
        buffer = self._buffer
        found = buffer.find(self._delimiter)
        if found < 0:
            keep = len(self._delimiter) - 1
            if len(buffer) > keep:
                await self._write(bytes(buffer[:-keep]))
                del buffer[:-keep]
            return False
        await self._write(bytes(buffer[:found]))
        del buffer[: found + len(self._delimiter)]
        self._end_part()
        self._state = _AFTER_DELIMITER
        return True

    async def _start_part(self, raw: list[tuple[bytes, bytes]]) -> None:
        headers = pyre.spec.Headers(raw)
        disposition = _decode_header_value(next((v for n, v in raw if n == b"content-disposition"), b""))
        kind, params = parse_options_header(disposition)
        if kind != "form-data" or "name" not in params:
            raise HTTPException(400, "multipart part has no form-data Content-Disposition with a name")
        self._name = params["name"]
        content_type = headers.get("content-type")
        if "filename" in params:
            self._files += 1
            if self._files > self._limits.max_files:
                raise HTTPException(413, f"form has more than {self._limits.max_files} files")
            self._file = UploadFile(
                params["filename"],
                content_type=content_type or "application/octet-stream",
                headers=headers,
            )
            return
        self._fields += 1
        if self._fields > self._limits.max_fields:
            raise HTTPException(413, f"form has more than {self._limits.max_fields} fields")
        self._charset = (
            parse_options_header(content_type)[1].get("charset", "utf-8") if content_type else "utf-8"
        )

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        file = self._file
        if file is not None:
            if file.size + len(data) > self._limits.max_file_size:
                raise HTTPException(413, f"uploaded file exceeds {self._limits.max_file_size} bytes")
            await file.write(data)
            return
        self._text_size += len(data)
        if self._text_size > self._limits.max_text_size:
            raise HTTPException(413, f"form text fields exceed {self._limits.max_text_size} bytes")
        self._text += data

    def _end_part(self) -> None:
        file = self._file
        if file is not None:
            file.file.seek(0)
            self._items.append((self._name, file))
            self._file = None
            return
        try:
            value = self._text.decode(self._charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"form field {self._name!r} is not valid {self._charset}") from exc
        self._items.append((self._name, value))
        self._text = bytearray()


def _parse_part_headers(block: bytes) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise HTTPException(400, "multipart part header is malformed")
        raw.append((name.lower(), value.strip(b" \t")))
    return raw


def _decode_header_value(value: bytes) -> str:
    # Browsers send non-ASCII field names and filenames as raw UTF-8 (HTML form submission).
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


__all__ = [
    "DEFAULT_LIMITS",
    "FormLimits",
    "MultipartParser",
    "parse_multipart",
    "parse_options_header",
    "parse_urlencoded",
]
