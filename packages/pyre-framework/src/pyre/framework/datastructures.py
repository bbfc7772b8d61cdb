"""Values a request is made of: its URL, query, form fields, uploaded files, cookies."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar, overload
from urllib.parse import parse_qsl, quote, urlencode

import pyre.spec

_V = TypeVar("_V")
_D = TypeVar("_D")


class URL:
    """An absolute URL split into its parts.

    ``raw_path`` stays percent-encoded, so ``str(url)`` gives back what the
    client sent; ``path`` is its decoded form (``pyre.spec.decode_path``: the
    octets read as UTF-8), as ``Request.path`` is.
    """

    __slots__ = ("scheme", "host", "port", "raw_path", "query")

    def __init__(
        self, scheme: str, host: str, port: int | None, raw_path: str = "/", query: str = ""
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.raw_path = raw_path
        self.query = query

    @property
    def path(self) -> str:
        return pyre.spec.decode_path(self.raw_path.encode())

    @property
    def netloc(self) -> str:
        """``host[:port]``, the port left out when it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is None or _DEFAULT_PORTS.get(self.scheme) == self.port:
            return host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.netloc}{self.raw_path}{query}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_authority(authority: str) -> tuple[str, int | None]:
    """``host`` and ``port`` of a ``Host`` value; IPv6 brackets removed, host lowercased.

    A port that is not a number is treated as absent: the server has already
    rejected malformed ``Host`` fields that matter for routing.
    """
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    port = int(port_text) if port_text.isdigit() else None
    return host.lower(), port


def request_url(request: pyre.spec.Request) -> URL:
    """The URL ``request`` was sent to, from its authority (or the server address)."""
    authority = request.authority
    if authority:
        host, port = split_authority(authority)
    elif request.server is not None:
        host, port = request.server
    else:
        host, port = "", None
    raw_path = request.root_path + _url_text(request.raw_path)
    return URL(request.scheme, host, port, raw_path, _url_text(request.query))


def _url_text(octets: bytes) -> str:
    """``octets`` of a request-target as URL text: octets outside printable ASCII (a client may send
    UTF-8 unescaped) are percent-encoded, so the URL is a valid one and decodes them as UTF-8."""
    return octets.decode("ascii") if octets.isascii() else quote(octets, safe=_PRINTABLE_ASCII)


_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))


class ImmutableMultiDict(Mapping[str, _V], Generic[_V]):
    """An ordered mapping in which a key may hold several values.

    Indexing and ``get`` give the *first* value, as ``pyre.spec.Headers`` does;
    ``getlist`` gives all of them.  Iteration yields each key once.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, _V]] = ()) -> None:
        self._items = list(items)
        index: dict[str, list[_V]] = {}
        for key, value in self._items:
            index.setdefault(key, []).append(value)
        self._index = index

    def __getitem__(self, key: str) -> _V:
        return self._index[key][0]

    @overload
    def get(self, key: str, /) -> _V | None: ...
    @overload
    def get(self, key: str, /, default: _V | _D) -> _V | _D: ...
    def get(self, key: str, /, default: object = None) -> object:
        values = self._index.get(key)
        return values[0] if values else default

    def getlist(self, key: str) -> list[_V]:
        return list(self._index.get(key, ()))

    def multi_items(self) -> list[tuple[str, _V]]:
        """Every ``(key, value)`` pair, in order."""
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImmutableMultiDict):
            return self._items == other._items
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class QueryParams(ImmutableMultiDict[str]):
    """The query string's ``name=value`` pairs, decoded; ``str()`` encodes them again."""

    __slots__ = ()

    @classmethod
    def parse(cls, query: bytes | str) -> QueryParams:
        # Raw octets and percent-escapes both decode as UTF-8: what browsers and curl send.
        text = query.decode("utf-8", "replace") if isinstance(query, bytes) else query
        return cls(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"))

    def __str__(self) -> str:
        return urlencode(self._items)


class UploadFile:
    """A file part of a multipart form.

    The content is spooled: kept in memory up to ``spool_size`` bytes, then in a
    temporary file on disk.  Once it is on disk, reads and writes run in a
    worker thread so that a large upload does not block the event loop.
    """

    spool_size = 1024 * 1024

    def __init__(
        self,
        filename: str,
        *,
        content_type: str = "application/octet-stream",
        headers: pyre.spec.Headers | None = None,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else pyre.spec.Headers()
        self.size = 0
        # Owned by this object for its whole life, closed by close(): no with-block fits.
        self.file = tempfile.SpooledTemporaryFile(max_size=self.spool_size)  # noqa: SIM115

    @property
    def _on_disk(self) -> bool:
        return bool(getattr(self.file, "_rolled", True))

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._on_disk or self.file.tell() + len(data) > self.spool_size:
            await asyncio.to_thread(self.file.write, data)
        else:
            self.file.write(data)

    async def read(self, size: int = -1) -> bytes:
        if self._on_disk:
            return await asyncio.to_thread(self.file.read, size)
        return self.file.read(size)

    async def seek(self, offset: int) -> None:
        if self._on_disk:
            await asyncio.to_thread(self.file.seek, offset)
        else:
            self.file.seek(offset)

    async def close(self) -> None:
        if self._on_disk:
            await asyncio.to_thread(self.file.close)
        else:
            self.file.close()

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, size={self.size}, content_type={self.content_type!r})"


class FormData(ImmutableMultiDict["str | UploadFile"]):
    """The fields of a submitted form: text values and uploaded files."""

    __slots__ = ()

    async def close(self) -> None:
        """Close every uploaded file, removing any temporary files."""
        for _, value in self._items:
            if isinstance(value, UploadFile):
                await value.close()


def parse_cookie_header(value: str) -> dict[str, str]:
    """The ``name=value`` pairs of a ``Cookie`` field (RFC 6265 section 5.4).

    Lenient like browsers and Starlette: pieces without ``=`` are skipped,
    surrounding double quotes are removed, and a repeated name keeps its first
    value (the most specific path, by the ordering of RFC 6265 section 5.4).
    """
    cookies: dict[str, str] = {}
    for piece in value.split(";"):
        name, eq, cookie_value = piece.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        cookie_value = cookie_value.strip()
        if len(cookie_value) >= 2 and cookie_value[0] == cookie_value[-1] == '"':
            cookie_value = cookie_value[1:-1]
        cookies.setdefault(name, cookie_value)
    return cookies


__all__ = [
    "URL",
    "FormData",
    "ImmutableMultiDict",
    "QueryParams",
    "UploadFile",
    "parse_cookie_header",
    "request_url",
    "split_authority",
]
