"""The in-memory reference driver: calls an application with no sockets.

Frameworks build their test clients on it.  It does what a server does at
the interface (lifespan, request body stream, 1xx, trailers, disconnect) and
nothing a server does on the wire (framing, Date, HEAD body removal).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .._application import Application, HasLifespan
from .._errors import ClientDisconnected
from .._files import open_file_body
from .._headers import Headers, RawHeaders
from .._paths import decode_path
from .._request import Address, State, read_to_end
from .._response import FileBody, Response
from .._version import EXT_EARLY_HINTS, ServerInfo

# Methods whose requests carry content by definition, so a client sends a length even when it is 0.
_METHODS_WITH_CONTENT = frozenset({"POST", "PUT", "PATCH"})

DRIVER_INFO = ServerInfo(name="pyre-spec-driver", extensions=frozenset({EXT_EARLY_HINTS}))


class MemoryBody:
    """A request body fed from bytes or an async iterable of chunks; single-pass."""

    def __init__(self, request: MemoryRequest, content: bytes | AsyncIterable[bytes]) -> None:
        self._request = request
        self._content = content
        self._source: AsyncIterator[bytes] | None = None
        self._finished = False

    @property
    def length(self) -> int | None:
        return len(self._content) if isinstance(self._content, bytes) else None

    @property
    def started(self) -> bool:
        """Whether the app has begun consuming; a server sends 100 Continue at that moment."""
        return self._source is not None

    async def read(self, max_size: int | None = None) -> bytes:
        return await read_to_end(self, max_size)

    def __aiter__(self) -> MemoryBody:
        return self

    async def __anext__(self) -> bytes:
        if self._finished:
            raise StopAsyncIteration
        if self._source is None:
            content = self._content
            self._source = _once(content) if isinstance(content, bytes) else aiter(content)
        while True:
            if self._request.disconnected:
                raise ClientDisconnected
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                self._finished = True
                self._request.trailers = Headers(self._request.sent_trailers)
                raise
            if chunk:
                return bytes(chunk)


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


def _split_target(target: bytes) -> tuple[bytes, bytes, str | None]:
    """``(raw_path, query, authority)`` of a request-target in any of its four forms (RFC 9112 3.2)."""
    if target == b"*":
        return b"*", b"", None
    if target.startswith(b"/"):
        raw_path, _, query = target.partition(b"?")
        return raw_path, query, None
    _, sep, rest = target.partition(b"://")
    if not sep:  # authority-form, for CONNECT
        return b"", b"", target.decode("latin-1")
    authority, slash, path_and_query = rest.partition(b"/")
    raw_path, _, query = (slash + path_and_query).partition(b"?")
    return raw_path or b"/", query, authority.decode("latin-1")


class MemoryRequest:
    """A ``pyre.spec.Request`` built from Python values."""

    def __init__(
        self,
        method: str,
        target: str | bytes,
        *,
        headers: RawHeaders = (),
        body: bytes | AsyncIterable[bytes] = b"",
        trailers: RawHeaders = (),
        http_version: str = "1.1",
        scheme: str = "http",
        client: Address | None = ("127.0.0.1", 50000),
        server: Address | None = ("127.0.0.1", 8000),
        root_path: str = "",
        state: State | None = None,
        extensions: Mapping[str, object] | None = None,
        server_info: ServerInfo = DRIVER_INFO,
    ) -> None:
        self.method = method
        self.target = target.encode("ascii") if isinstance(target, str) else target
        self.raw_path, self.query, target_authority = _split_target(self.target)
        self.path = decode_path(self.raw_path)
        self.http_version = http_version
        self.scheme = scheme
        self.headers = Headers(headers)
        self.authority = target_authority or self.headers.get("host")
        self.trailers: Headers | None = None
        self.sent_trailers = trailers
        self.body = MemoryBody(self, body)
        self.client = client
        self.server = server
        self.root_path = root_path
        self.state: State = state if state is not None else {}
        self.extensions: Mapping[str, object] = extensions or {}
        self.server_info = server_info
        self.interim: list[tuple[int, Headers]] = []
        self._disconnect = asyncio.Event()

    @property
    def disconnected(self) -> bool:
        return self._disconnect.is_set()

    def disconnect(self) -> None:
        """Act as if the client closed the connection."""
        self._disconnect.set()

    async def wait_disconnected(self) -> None:
        await self._disconnect.wait()

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        if not 100 <= status < 200 or status == 101:
            raise ValueError(f"send_interim takes a 1xx status other than 101, not {status}")
        if self.http_version != "1.0":
            self.interim.append((status, Headers(list(headers))))


@dataclass
class DriverResponse:
    """What the application answered, with its content collected."""

    status: int
    headers: Headers
    body: bytes
    trailers: Headers | None
    interim: list[tuple[int, Headers]] = field(default_factory=list)
    response: Response | None = None

    @property
    def text(self) -> str:
        return self.body.decode()


async def collect(response: Response, request: MemoryRequest | None = None) -> DriverResponse:
    """Read ``response``'s content to the end, as a server would send it."""
    body = response.body
    if isinstance(body, bytes):
        content = body
    elif isinstance(body, FileBody):
        content = b"".join([chunk async for chunk in await open_file_body(body)])
    else:
        parts = []
        async for chunk in body:
            parts.append(bytes(chunk))
        content = b"".join(parts)
    trailers = Headers(list(await response.trailers())) if response.trailers is not None else None
    return DriverResponse(
        status=response.status,
        headers=Headers(list(response.headers)),
        body=content,
        trailers=trailers,
        interim=request.interim if request is not None else [],
        response=response,
    )


class Driver:
    """Runs an application's lifespan and sends it requests, in memory.

    ::

        async with Driver(app) as driver:
            response = await driver.request("GET", "/hello")
    """

    def __init__(self, app: Application, *, server_info: ServerInfo = DRIVER_INFO) -> None:
        self.app = app
        self.server_info = server_info
        self.state: State = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Driver:
        if isinstance(self.app, HasLifespan):
            await self._stack.enter_async_context(self.app.lifespan(self.server_info, self.state))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def build(self, method: str, target: str | bytes, **options: Any) -> MemoryRequest:
        """A request bound to this driver's state and server info; see ``MemoryRequest``."""
        options.setdefault("state", self.state)
        options.setdefault("server_info", self.server_info)
        headers = list(options.pop("headers", ()))
        names = {name.lower() for name, _ in headers}
        if b"host" not in names:
            headers.insert(0, (b"host", b"testserver"))
        body = options.get("body", b"")
        if b"content-length" not in names and b"transfer-encoding" not in names:
            if not isinstance(body, bytes):
                headers.append((b"transfer-encoding", b"chunked"))
            elif body or method.upper() in _METHODS_WITH_CONTENT:
                headers.append((b"content-length", str(len(body)).encode()))
        return MemoryRequest(method, target, headers=headers, **options)

    async def send(self, request: MemoryRequest) -> DriverResponse:
        response = await self.app(request)
        return await collect(response, request)

    async def request(self, method: str, target: str | bytes, **options: Any) -> DriverResponse:
        return await self.send(self.build(method, target, **options))


def header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Encode ``str`` header pairs to the raw form the spec uses."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in items]
