"""The request and its body as an application sees them (pyre-spec sections 3 and 4).

One ``HttpRequest`` per request, with slots and lazily computed fields: the
header pairs go to ``pyre.spec.Headers`` raw and the path is decoded only when
asked for.  A body-less request shares one empty body.  Both reach their
connection through ``_channel.Channel`` only, and the module imports no
asyncio: the sans-IO core (``_core``) makes them.

Compiled by mypyc in the compiled build: see ``hatch_build.py`` for what that rules out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from pyre.spec import (
    ClientDisconnected,
    Headers,
    RawHeaders,
    RequestBodyTooLarge,
    ServerInfo,
    State,
    decode_path,
    read_to_end,
)

from ._proxy import forwarded

if TYPE_CHECKING:
    import asyncio

    from ._channel import Channel

_NO_EXTENSIONS: Mapping[str, object] = MappingProxyType({})
_NO_TRAILERS = Headers(())


class HttpRequest:
    """``pyre.spec.Request`` for one request on an HTTP/1.1 connection.

    One class over TCP and TLS alike: the scheme and the ``pyre.tls`` data come from
    the connection.  (Single inheritance only, so that mypyc compiles it: see
    ``hatch_build.py``.)
    """

    __slots__ = (
        "_channel",
        "method",
        "target",
        "http_version",
        "raw_path",
        "query",
        "authority",
        "_raw_headers",
        "_headers",
        "_path",
        "body",
        "keep_alive",
        "expects_continue",
        "response_started",
        "upgrade_requested",
        "status",
    )

    def __init__(
        self,
        channel: Channel,
        method: str,
        target: bytes,
        http_version: str,
        raw_path: bytes,
        query: bytes,
        authority: str | None,
        raw_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> None:
        self._channel = channel
        self.method = method
        self.target = target
        self.http_version = http_version
        self.raw_path = raw_path
        self.query = query
        self.authority = authority
        self._raw_headers = raw_headers
        self._headers: Headers | None = None
        self._path: str | None = None
        self.body: HttpBody | EmptyBody = EMPTY_BODY
        self.keep_alive = keep_alive
        self.expects_continue = False
        self.response_started = False
        self.upgrade_requested = False
        self.status = 0

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self._raw_headers)
        return headers

    @property
    def trailers(self) -> Headers | None:
        body = self.body
        return body.trailers if isinstance(body, HttpBody) else _NO_TRAILERS

    @property
    def path(self) -> str:
        path = self._path
        if path is None:
            path = self._path = decode_path(self.raw_path)  # PYRE-REQ-5; no "%", no unquoting
        return path

    @property
    def client(self) -> tuple[str, int] | None:
        return self._channel.client

    @property
    def scheme(self) -> str:
        return "http" if self._channel.tls_extensions is None else "https"

    @property
    def extensions(self) -> Mapping[str, object]:
        return self._channel.tls_extensions or _NO_EXTENSIONS

    @property
    def server(self) -> tuple[str, int] | None:
        return self._channel.local

    @property
    def root_path(self) -> str:
        return self._channel.shared.config.root_path

    @property
    def state(self) -> State:
        return self._channel.shared.state

    @property
    def server_info(self) -> ServerInfo:
        return self._channel.shared.info

    @property
    def disconnected(self) -> bool:
        return self._channel.closed

    async def wait_disconnected(self) -> None:
        await self._channel.wait_closed()

    # status: object, not int: pyre spec PYRE-REQ-19 wants a ValueError also for what is not
    # an int, where compiled code would raise a TypeError of its own at the call.
    async def send_interim(self, status: object, headers: RawHeaders = ()) -> None:
        if (
            not isinstance(status, int)
            or isinstance(status, bool)
            or not 100 <= status < 200
            or status == 101
        ):
            raise ValueError(f"send_interim takes a 1xx status other than 101, not {status!r}")
        if self.response_started:
            raise RuntimeError("send_interim after the final response started")
        if self.http_version == "1.0":  # RFC 9110 section 15.2: never a 1xx to an HTTP/1.0 client
            return
        await self._channel.send_interim(self, status, headers)


class ForwardedRequest(HttpRequest):
    """A request from a trusted proxy: client, scheme and authority as it forwarded them.

    The connection picks this class once, when its peer is trusted, so a request
    from anyone else pays nothing for proxy headers (``_proxy``).
    """

    __slots__ = ("_client", "_scheme")

    def __init__(
        self,
        channel: Channel,
        method: str,
        target: bytes,
        http_version: str,
        raw_path: bytes,
        query: bytes,
        authority: str | None,
        raw_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> None:
        super().__init__(
            channel, method, target, http_version, raw_path, query, authority, raw_headers, keep_alive
        )
        proxies = channel.shared.proxies
        assert proxies is not None  # only a connection from a trusted peer makes these
        client, scheme, host = forwarded(raw_headers, proxies)
        self._client = client or channel.client
        self._scheme = scheme or super().scheme
        if host is not None:
            self.authority = host

    @property
    def client(self) -> tuple[str, int] | None:
        return self._client

    @property
    def scheme(self) -> str:
        return self._scheme


class EmptyBody:
    """The content of a request without one: shared, always at its end."""

    __slots__ = ()

    length = 0

    async def read(self, max_size: int | None = None) -> bytes:
        return b""

    def __aiter__(self) -> EmptyBody:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


EMPTY_BODY = EmptyBody()


class HttpBody:
    """The request content, delivered as the parser produces it.

    Chunks wait in a queue until the app takes them.  Once more than the read
    high-water mark is queued the connection stops reading from the socket
    (``pause_reading``) until the app catches up: memory stays bounded however
    fast the client sends.
    """

    __slots__ = (
        "_channel",
        "length",
        "_chunks",
        "buffered",
        "received",
        "complete",
        "error",
        "_waiter",
        "_started",
        "discarding",
        "_trailer_fields",
        "trailers",
    )

    # The body does not refer to its request: the request refers to it, and a cycle
    # between them would keep both, and the connection, until the cyclic collector runs.
    def __init__(self, channel: Channel, length: int | None) -> None:
        self._channel = channel
        self.length = length
        self._chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0
        self.complete = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._started = False
        self.discarding = False
        self._trailer_fields: list[tuple[bytes, bytes]] = []
        self.trailers: Headers | None = None
        """The request's trailer section, once the content has been read (PYRE-HDR-7)."""

    # Parser side.

    def feed(self, data: bytes, limit: int) -> None:
        self.received += len(data)
        if self.received > limit and self.error is None:
            self.error = RequestBodyTooLarge(limit)
        if self.discarding or self.error is not None:
            self._chunks.clear()
            self.buffered = 0
        else:
            self._chunks.append(data)
            self.buffered += len(data)
        self._wake()

    def add_trailer(self, name: bytes, value: bytes) -> None:
        self._trailer_fields.append((name, value))

    def end(self) -> None:
        self.complete = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self.complete and self.error is None:
            self.error = error
        self._wake()

    def discard(self) -> None:
        """The response is done: drop what is queued and whatever else arrives."""
        self.discarding = True
        self._chunks.clear()
        self.buffered = 0

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # Application side.

    async def read(self, max_size: int | None = None) -> bytes:
        if self.complete and self.error is None:
            # All the content is queued (usual for a small body: it came with the head):
            # taken in one step, not through the chunk-by-chunk iteration of read_to_end,
            # a dozen Python calls more (about 1 µs of a pure-Python POST's 31).
            chunks = self._chunks
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if max_size is not None and len(data) > max_size:
                raise RequestBodyTooLarge(max_size)
            chunks.clear()
            self.buffered = 0
            self._channel.consumed()
            if self.trailers is None:
                self.trailers = Headers(self._trailer_fields)
            return data
        return await read_to_end(self, max_size)

    def __aiter__(self) -> HttpBody:
        return self

    async def __anext__(self) -> bytes:
        data = await self._next()
        if not data:
            raise StopAsyncIteration
        return data

    async def _next(self) -> bytes:
        channel = self._channel
        while True:
            if self.error is not None:
                raise self.error
            if self._chunks:
                # One chunk as the parser gave it, not a join of all that is queued: read()
                # joins once at the end, and a second join would copy every byte twice.
                data = self._chunks.popleft()
                self.buffered -= len(data)
                channel.consumed()
                return data
            if self.complete:
                if self.trailers is None:
                    self.trailers = Headers(self._trailer_fields)
                return b""
            if channel.closed:
                raise ClientDisconnected
            if not self._started:
                self._started = True
                channel.continue_body(self)
            waiter = self._waiter = channel.loop.create_future()
            channel.waiting_for_body(True)
            try:
                await waiter
            finally:
                channel.waiting_for_body(False)
