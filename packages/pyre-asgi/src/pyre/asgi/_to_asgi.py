"""Serving a pyre-spec application on an ASGI server: ``to_asgi``.

The ASGI server plays the pyre server: ``ASGIRequest`` reads the request from
the ASGI scope and ``receive``, and ``send_response`` does the pyre-spec
server's part of the response (framing headers, file bodies, trailers) in
ASGI messages.  What the ASGI server offers in ``scope["extensions"]`` becomes
the request's ``server_info.extensions``.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterable, Mapping
from typing import ClassVar, Final
from urllib.parse import quote

from pyre.spec import (
    EXT_EARLY_HINTS,
    EXT_SENDFILE,
    EXT_WEBSOCKET,
    STATUSES_WITHOUT_CONTENT,
    Address,
    Application,
    ClientDisconnected,
    FileBody,
    FileBodyReader,
    HasLifespan,
    Headers,
    RawHeaders,
    RequestBodyTooLarge,
    Response,
    ResponseBody,
    ServerInfo,
    State,
    open_file_body,
    read_to_end,
)

from .__about__ import __version__
from ._errors import ASGIProtocolError
from ._paths import pyre_paths
from ._session import ASGIWebSocketSession
from ._types import Message, Receive, Scope, Send

SERVER_NAME: Final = f"pyre-asgi/{__version__}"
_NO_EXTENSIONS: Final[Mapping[str, object]] = {}


def to_asgi(app: Application) -> ToASGI:
    """An ASGI 3 application serving the pyre-spec application ``app`` (and its lifespan)."""
    return ToASGI(app)


class ToASGI:
    """An ASGI 3 application that runs a pyre-spec application."""

    # asgiref's mark of an ASGI 3 app: compiled, ``__call__`` has no signature to tell it by.
    _asgi_single_callable: ClassVar[bool] = True

    def __init__(self, app: Application) -> None:
        self.app = app
        self.state: State = {}
        """The pyre-spec state, the same dict for every request: the ASGI lifespan state if there is one."""
        self._infos: dict[tuple[bool, bool], ServerInfo] = {}
        # The info for the extensions mapping seen last: servers that pass one mapping for
        # every request (or none, as uvicorn) look it up once.
        self._last: tuple[Mapping[str, object], ServerInfo]
        self._last = (_NO_EXTENSIONS, self.server_info(_NO_EXTENSIONS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            raise ASGIProtocolError(f"unsupported ASGI scope type {kind!r}")

    def server_info(self, extensions: Mapping[str, object]) -> ServerInfo:
        key = ("http.response.early_hint" in extensions, "http.response.pathsend" in extensions)
        info = self._infos.get(key)
        if info is None:
            # Every ASGI 3 server this bridge knows delivers handshakes as "websocket" scopes, and
            # PYRE-REQ-15 asks for one ServerInfo for every request: listed for HTTP requests too.
            names = {EXT_WEBSOCKET}
            if key[0]:
                names.add(EXT_EARLY_HINTS)
            if key[1]:
                names.add(EXT_SENDFILE)
            info = self._infos[key] = ServerInfo(name=SERVER_NAME, extensions=frozenset(names))
        return info

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.get("extensions") or _NO_EXTENSIONS
        last, info = self._last
        if extensions is not last:
            info = self.server_info(extensions)
            self._last = (extensions, info)
        request = ASGIRequest(scope, receive, send, self.state, info, extensions)
        try:
            response = await self.app(request)
        except RequestBodyTooLarge:
            response = Response(413, [(b"content-type", b"text/plain; charset=utf-8")], b"Content Too Large")
        await send_response(request, response, send, extensions)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The handshake as a GET request with a ``pyre.websocket`` session in its extensions: ASGI
        gives no raw bytes, so the session is the connection (spec section 9.5)."""
        if (await receive())["type"] != "websocket.connect":
            return
        extensions = scope.get("extensions") or _NO_EXTENSIONS
        info = self.server_info(extensions)
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        request = ASGIRequest(
            {**scope, "method": "GET", "scheme": scheme}, receive, send, self.state, info, extensions
        )
        session = ASGIWebSocketSession(receive, send)
        request.extensions = {EXT_WEBSOCKET: session}
        try:
            await self.app(request)  # its response is ignored: the session was the answer
        finally:
            await session.finish()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        if state is not None:
            self.state = state
        await receive()  # lifespan.startup
        manager = None
        if isinstance(self.app, HasLifespan):
            manager = self.app.lifespan(self.server_info(_NO_EXTENSIONS), self.state)
            try:
                await manager.__aenter__()
            except Exception as error:
                await send({"type": "lifespan.startup.failed", "message": describe(error)})
                return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        if manager is not None:
            try:
                await manager.__aexit__(None, None, None)
            except Exception as error:
                await send({"type": "lifespan.shutdown.failed", "message": describe(error)})
                return
        await send({"type": "lifespan.shutdown.complete"})


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class ASGIRequest:
    """A ``pyre.spec.Request`` read from an ASGI HTTP scope and its ``receive`` channel."""

    __slots__ = (
        "scope",
        "method",
        "path",
        "query",
        "http_version",
        "scheme",
        "root_path",
        "state",
        "server_info",
        "extensions",
        "_body",
        "_raw_path",
        "_receive",
        "_send",
        "_headers",
        "_asgi_extensions",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: State,
        server_info: ServerInfo,
        asgi_extensions: Mapping[str, object],
    ) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        path: str = scope["path"]
        raw_path: bytes | None = scope.get("raw_path")
        root_path: str = scope.get("root_path", "")
        if root_path:
            path, raw_path = pyre_paths(path, raw_path, root_path)
        self.path = path
        self._raw_path = raw_path
        self.query: bytes = scope.get("query_string", b"")
        self.http_version: str = scope.get("http_version", "1.1")
        self.scheme: str = scope.get("scheme", "http")
        self.root_path = root_path
        self.state = state
        self.server_info = server_info
        self.extensions: Mapping[str, object] = _NO_EXTENSIONS
        self._body: ASGIBody | None = None
        self._receive = receive
        self._send = send
        self._headers: Headers | None = None
        self._asgi_extensions = asgi_extensions

    @property
    def body(self) -> ASGIBody:
        """Made when first asked for: a handler that reads no content never needs it."""
        body = self._body
        if body is None:
            body = self._body = ASGIBody(self.scope, self._receive)
        return body

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self.scope["headers"])
        return headers

    @property
    def raw_path(self) -> bytes:
        raw = self._raw_path
        return raw if raw is not None else quote(self.path).encode("ascii")

    @property
    def target(self) -> bytes:
        query = self.query
        return self.raw_path + b"?" + query if query else self.raw_path

    @property
    def authority(self) -> str | None:
        return self.headers.get("host")

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return (client[0], client[1]) if client else None

    @property
    def server(self) -> Address | None:
        server = self.scope.get("server")
        return (server[0], server[1]) if server and server[1] is not None else None

    @property
    def trailers(self) -> Headers | None:
        return self.body.trailers

    @property
    def disconnected(self) -> bool:
        body = self._body
        return body is not None and body.disconnected

    async def wait_disconnected(self) -> None:
        await self.body.wait_disconnected()

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        if not 100 <= status < 200 or status == 101:
            raise ValueError(f"send_interim takes a 1xx status other than 101, not {status}")
        if status == 103 and "http.response.early_hint" in self._asgi_extensions:
            links = [value for name, value in headers if name.lower() == b"link"]
            await self._send({"type": "http.response.early_hint", "links": links})
        # ASGI has no message for any other 1xx; the server sends 100 Continue by itself.

    def mark_disconnected(self) -> None:
        self.body.disconnected = True


class ASGIBody:
    """The request content, from ``http.request`` messages: the owner of ``receive``.

    It does not refer to its request (the request refers to it): a cycle between
    them would keep both, with the ASGI server's objects that ``receive`` holds,
    until the cyclic collector runs, and its pauses are the latency tail.
    """

    __slots__ = ("_scope", "_receive", "_pending", "_lock", "done", "disconnected", "trailers")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._scope = scope
        self._receive = receive
        self._pending: deque[bytes] | None = None
        """Chunks received and not yet read; made for the first one (most requests have none)."""
        self._lock: asyncio.Lock | None = None
        self.done = False
        """The last ``http.request`` message is in."""
        self.disconnected = False
        self.trailers: Headers | None = None
        """Empty once the content is in: ASGI carries no request trailers."""

    @property
    def length(self) -> int | None:
        content_length: bytes | None = None
        chunked = False
        for name, value in self._scope["headers"]:
            name = name.lower()
            if name == b"content-length":
                if content_length is None:
                    content_length = value
            elif name == b"transfer-encoding":
                chunked = True
        if content_length is not None and content_length.isdigit():
            return int(content_length)
        # HTTP/1.x without either field has no content (RFC 9112 section 6.3); HTTP/2 and 3 may still.
        if not chunked and self._scope.get("http_version", "1.1").startswith("1"):
            return 0
        return None

    async def read(self, max_size: int | None = None) -> bytes:
        return await read_to_end(self, max_size)

    def __aiter__(self) -> BodyChunks:
        return BodyChunks(self)

    async def next_chunk(self) -> bytes | None:
        """The next chunk, None at the end; ``ClientDisconnected`` if the client left."""
        while True:
            pending = self._pending
            if pending:
                return pending.popleft()
            if self.done:
                return None
            if self.disconnected:
                raise ClientDisconnected
            await self._pump()

    async def wait_disconnected(self) -> None:
        while not self.disconnected:
            await self._pump()

    async def _pump(self) -> None:
        """Receive one ASGI message and file it; one receive at a time, whoever asks."""
        lock = self._lock
        if lock is None:
            lock = self._lock = asyncio.Lock()
        if lock.locked():
            async with lock:
                return  # another reader received a message: the caller looks at the state again
        async with lock:
            message = await self._receive()
        kind = message["type"]
        if kind == "http.request":
            body = message.get("body", b"")
            if body:
                if self._pending is None:
                    self._pending = deque()
                self._pending.append(body)
            if not message.get("more_body", False):
                self.done = True
                self.trailers = Headers(())
        elif kind == "http.disconnect":
            self.disconnected = True
        else:
            raise ASGIProtocolError(f"unexpected ASGI message {kind!r} from receive()")


class BodyChunks:
    """An iteration of an ``ASGIBody``'s chunks (a class, not an async generator: mypyc compiles none)."""

    __slots__ = ("body",)

    def __init__(self, body: ASGIBody) -> None:
        self.body = body

    def __aiter__(self) -> BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.body.next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk


async def send_response(
    request: ASGIRequest, response: Response, send: Send, extensions: Mapping[str, object]
) -> None:
    """Send ``response`` as ASGI messages, doing the pyre server's framing."""
    if response.upgrade is not None:
        raise ASGIProtocolError("a pyre-spec protocol upgrade cannot be carried over ASGI HTTP")
    body = response.body
    trailers = response.trailers
    with_trailers = trailers is not None and "http.response.trailers" in extensions
    status = response.status
    file: FileBodyReader | None = None
    if isinstance(body, bytes):
        size: int | None = len(body) if body or request.method != "HEAD" else None
    elif isinstance(body, FileBody):
        # PYRE-RESP-18: the region is checked before anything is sent; the reader owns the descriptor.
        file = await open_file_body(body)
        size = file.length
    else:
        size = None
    start: Message = {"type": "http.response.start", "status": status, "headers": framed(response, size)}
    if with_trailers:
        start["trailers"] = True
    try:
        try:
            await send(start)
        except OSError:
            request.mark_disconnected()
            if file is None:
                await abandon(body)
            return
        try:
            if isinstance(body, bytes):
                await send({"type": "http.response.body", "body": body})
            elif isinstance(body, FileBody):
                assert file is not None
                await send_file(file, body, send, "http.response.pathsend" in extensions)
            else:
                await send_stream(request, body, send)
            if trailers is not None:
                fields = await trailers()
                if with_trailers:
                    await send(
                        {"type": "http.response.trailers", "headers": list(fields), "more_trailers": False}
                    )
        except (OSError, ClientDisconnected):
            # ASGI 2.4: send() on a closed connection raises an OSError; the client has gone.
            request.mark_disconnected()
    finally:
        if file is not None:
            await file.aclose()


async def abandon(body: ResponseBody) -> None:
    """Release a body that will not be sent: the file descriptor or the stream the app handed over."""
    if isinstance(body, FileBody):
        if body.fd is not None:
            os.close(body.fd)
    elif not isinstance(body, bytes):
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()


def framed(response: Response, size: int | None) -> list[tuple[bytes, bytes]]:
    """The app's headers without ``transfer-encoding``, with ``content-length`` when the size is known."""
    status = response.status
    sized = size is not None and status >= 200 and status not in STATUSES_WITHOUT_CONTENT
    for name, _ in response.headers:
        if name == b"transfer-encoding" or name == b"content-length":
            break
    else:  # the common case: neither field, so one pass and one copy
        if sized:
            return [*response.headers, (b"content-length", str(size).encode("ascii"))]
        return list(response.headers)
    headers = [(name, value) for name, value in response.headers if name != b"transfer-encoding"]
    if sized and not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(size).encode("ascii")))
    return headers


async def send_file(file: FileBodyReader, body: FileBody, send: Send, pathsend: bool) -> None:
    """The region ``file`` reads, as body messages; a whole file by path as ``pathsend`` when offered."""
    if pathsend and body.path is not None and body.offset == 0 and body.count is None:
        await file.aclose()  # the ASGI server opens the path itself
        await send({"type": "http.response.pathsend", "path": absolute(body.path)})
        return
    left = file.length
    if not left:
        await send({"type": "http.response.body", "body": b""})
        return
    async for chunk in file:  # a file that shrank raises FileTooShort: the ASGI server aborts
        left -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})


def absolute(path: str | os.PathLike[str]) -> str:
    """ASGI pathsend takes an absolute path."""
    return os.path.abspath(path)


async def send_stream(request: ASGIRequest, body: AsyncIterable[bytes], send: Send) -> None:
    """Send chunk by chunk until the end, or until the client is gone.

    Not every server raises from ``send()`` after a disconnect (uvicorn's
    httptools protocol drops the message), so ``receive()`` is also watched
    for ``http.disconnect`` while the stream lasts.
    """
    iterator = aiter(body)
    watcher = asyncio.ensure_future(request.wait_disconnected())
    try:
        async for chunk in iterator:
            if watcher.done():
                raise ClientDisconnected
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except BaseException:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    finally:
        watcher.cancel()
    await send({"type": "http.response.body", "body": b""})
