"""The request message and its body (spec sections 3 and 5).

A server implements these Protocols with its own classes; an application only
reads them.  Every attribute is read-only to the application.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping, MutableMapping
from typing import Any, Protocol, TypeAlias

from ._errors import RequestBodyTooLarge
from ._headers import Headers, RawHeaders
from ._version import ServerInfo

Address: TypeAlias = tuple[str, int]
"""A ``(host, port)`` pair for an IP socket."""

State: TypeAlias = MutableMapping[str, Any]
"""The application state filled during lifespan startup and shared by every request."""


class Body(Protocol):
    """The request content as a single-pass stream (section 5)."""

    @property
    def length(self) -> int | None:
        """The declared ``Content-Length``, ``0`` without content, ``None`` for chunked content."""
        ...

    async def read(self, max_size: int | None = None) -> bytes:
        """The rest of the content.

        Raises ``RequestBodyTooLarge`` when the content is larger than ``max_size``
        or the server's own limit, and ``ClientDisconnected`` when the client
        went away first.  At the end of the stream it returns ``b""``.
        """
        ...

    def __aiter__(self) -> AsyncIterator[bytes]:
        """The rest of the content as non-empty chunks, as they arrive."""
        ...


async def read_to_end(chunks: AsyncIterable[bytes], max_size: int | None = None) -> bytes:
    """Join ``chunks`` into one ``bytes``; a ``Body.read`` implementation for any server.

    Raises ``RequestBodyTooLarge`` as soon as more than ``max_size`` bytes have arrived.
    When ``chunks`` raises it for a limit of its own (the server's) that is larger
    than ``max_size``, the content has passed both, and the smaller one is reported
    (spec PYRE-BODY-18).
    """
    parts = []
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise RequestBodyTooLarge(max_size)
            parts.append(chunk)
    except RequestBodyTooLarge as error:
        if max_size is not None and max_size < error.limit:
            raise RequestBodyTooLarge(max_size) from None
        raise
    return b"".join(parts)


class Request(Protocol):
    """One HTTP request message (RFC 9110 section 3.4; spec section 3)."""

    @property
    def method(self) -> str:
        """The method token, case preserved (``"GET"``)."""
        ...

    @property
    def target(self) -> bytes:
        """The request-target exactly as received (RFC 9112 section 3.2)."""
        ...

    @property
    def path(self) -> str:
        """The path, percent-decoded and decoded from UTF-8 (invalid octets become U+FFFD)."""
        ...

    @property
    def raw_path(self) -> bytes:
        """The path as received, still percent-encoded, without the query."""
        ...

    @property
    def query(self) -> bytes:
        """The query as received, without the ``?``; ``b""`` when there is none."""
        ...

    @property
    def http_version(self) -> str:
        """``"1.0"`` or ``"1.1"``."""
        ...

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``: how the request reached the server."""
        ...

    @property
    def authority(self) -> str | None:
        """The target URI's authority: absolute-form target, else ``Host``; ``None`` if absent."""
        ...

    @property
    def headers(self) -> Headers:
        """The header section, in order, as received."""
        ...

    @property
    def trailers(self) -> Headers | None:
        """The trailer section once the body has been read to its end, else ``None``."""
        ...

    @property
    def body(self) -> Body:
        """The request content."""
        ...

    @property
    def client(self) -> Address | None:
        """The peer address, when the transport has one."""
        ...

    @property
    def server(self) -> Address | None:
        """The local address the request arrived on, when the transport has one."""
        ...

    @property
    def root_path(self) -> str:
        """The path prefix the application is mounted under; ``""`` when none."""
        ...

    @property
    def state(self) -> State:
        """The application state from lifespan startup (the same object for every request)."""
        ...

    @property
    def extensions(self) -> Mapping[str, object]:
        """Per-request data of the extensions the server implements, by extension name."""
        ...

    @property
    def server_info(self) -> ServerInfo:
        """The server, its spec version and its extensions."""
        ...

    @property
    def disconnected(self) -> bool:
        """Whether the server has seen the client close the connection."""
        ...

    async def wait_disconnected(self) -> None:
        """Return once the client has closed the connection."""
        ...

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        """Send a ``1xx`` interim response other than 101 (RFC 9110 section 15.2).

        Must be called before the application returns its final response.  The
        server drops it for an HTTP/1.0 client.
        """
        ...
