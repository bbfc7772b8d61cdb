"""Test clients: call an application in memory through ``pyre.spec.testing.Driver``.

::

    with TestClient(app) as client:          # runs the app's lifespan
        response = client.get("/users/1", params={"full": "true"})
        assert response.status_code == 200
        assert response.json() == {"id": 1}

    async with AsyncTestClient(app) as client:
        response = await client.post("/users", json={"name": "Ada"})

``TestClient`` runs one event loop in a background thread for its whole life
and hands each call to it.  One loop, rather than a fresh loop per call,
because what the app creates at startup (connection pools, locks, queues) is
bound to the loop it was created on and must still work in later requests;
a thread, rather than the calling thread, so the sync client also works
inside code that already runs a loop.

Like a real HTTP client, the test clients send ``Host`` and
``Content-Length``, keep cookies the app sets, and show no content for a
``HEAD`` response.  They do not follow redirects.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import mimetypes
import os
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import IO, Any, TypeAlias, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import orjson
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

import pyre.spec
import pyre.spec.testing
from pyre.spec.testing import Driver, DriverResponse, collect

from .datastructures import parse_cookie_header
from .websockets import CLOSE_TIMEOUT, WebSocketDisconnect

T = TypeVar("T")

Params: TypeAlias = Mapping[str, Any] | Iterable[tuple[str, Any]]
HeadersInput: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
FileValue: TypeAlias = bytes | IO[bytes] | tuple[str, bytes | IO[bytes]] | tuple[str, bytes | IO[bytes], str]
Files: TypeAlias = Mapping[str, FileValue]

_NO_JSON: Any = object()


class TestResponse:
    """What the application answered."""

    __test__ = False  # not a pytest test class

    def __init__(self, method: str, answer: DriverResponse) -> None:
        self.status_code = answer.status
        self.headers: pyre.spec.Headers = answer.headers
        self.content = b"" if method == "HEAD" else answer.body
        self.trailers = answer.trailers
        self.interim = answer.interim
        self.response = answer.response

    @property
    def text(self) -> str:
        content_type = self.headers.get("content-type", "")
        charset = "utf-8"
        for piece in content_type.split(";")[1:]:
            name, _, value = piece.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code}>"


class AsyncTestClient:
    """Sends requests to ``app`` in memory; ``async with`` runs its lifespan."""

    __test__ = False

    def __init__(
        self,
        app: pyre.spec.Application,
        *,
        base_url: str = "http://testserver",
        headers: HeadersInput | None = None,
        cookies: Mapping[str, str] | None = None,
        client: pyre.spec.Address | None = ("127.0.0.1", 50000),
    ) -> None:
        self.app = app
        base = urlsplit(base_url)
        self.scheme = base.scheme or "http"
        self.host = base.netloc or "testserver"
        self.headers = _pairs(headers)
        self.cookies: dict[str, str] = dict(cookies or {})
        self.client = client
        self._driver = Driver(app)

    async def __aenter__(self) -> AsyncTestClient:
        await self._driver.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._driver.__aexit__(exc_type, exc, tb)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: HeadersInput | None = None,
        cookies: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = _NO_JSON,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
    ) -> TestResponse:
        body, content_type = _encode_body(content, json, data, files)
        request = self._build(method, url, params, headers, cookies, body, content_type)
        answer = await self._driver.send(request)
        self._keep_cookies(answer.headers)
        return TestResponse(method, answer)

    def _build(
        self,
        method: str,
        url: str,
        params: Params | None,
        headers: HeadersInput | None,
        cookies: Mapping[str, str] | None,
        body: bytes,
        content_type: str | None,
        **options: Any,
    ) -> pyre.spec.testing.MemoryRequest:
        header_list = [*self.headers, *_pairs(headers)]
        names = {name.lower() for name, _ in header_list}
        if content_type is not None and "content-type" not in names:
            header_list.append(("content-type", content_type))
        if (body or method not in ("GET", "HEAD", "OPTIONS", "DELETE")) and "content-length" not in names:
            header_list.append(("content-length", str(len(body))))
        jar = {**self.cookies, **(cookies or {})}
        if jar and "cookie" not in names:
            header_list.append(("cookie", "; ".join(f"{name}={value}" for name, value in jar.items())))
        if "host" not in names:
            header_list.insert(0, ("host", self.host))
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in header_list]
        target = _target(url, params)
        return self._driver.build(
            method, target, headers=raw, body=body, scheme=self.scheme, client=self.client, **options
        )

    @contextlib.asynccontextmanager
    async def websocket_connect(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        params: Params | None = None,
        headers: HeadersInput | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> AsyncIterator[AsyncWebSocketSession]:
        """Open a WebSocket to ``url``; raises ``WebSocketRefused`` when the app answers without 101.

        Leaving the block closes the connection (1000) and re-raises what the handler raised.
        """
        handshake = [
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-key", base64.b64encode(os.urandom(16)).decode()),
            ("sec-websocket-version", "13"),
        ]
        offered = ", ".join(subprotocols)
        if offered:
            handshake.append(("sec-websocket-protocol", offered))
        info = pyre.spec.ServerInfo(
            "pyre-framework-testclient",
            extensions=frozenset({pyre.spec.EXT_UPGRADE, pyre.spec.EXT_EARLY_HINTS}),
        )
        extra = [*handshake, *_pairs(headers)]
        request = self._build("GET", url, params, extra, cookies, b"", None, server_info=info)
        response = await self.app(request)
        if response.upgrade is None:
            raise WebSocketRefused(TestResponse("GET", await collect(response, request)))
        session = AsyncWebSocketSession(response)
        try:
            yield session
        finally:
            await session.finish()

    def _keep_cookies(self, headers: pyre.spec.Headers) -> None:
        for line in headers.get_all("set-cookie"):
            pair, _, attributes = line.partition(";")
            name = pair.partition("=")[0]
            expired = any(
                part.strip().lower() in ("max-age=0", "max-age=-1") for part in attributes.split(";")
            )
            if expired:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies.update(parse_cookie_header(pair))

    async def get(self, url: str, **options: Any) -> TestResponse:
        return await self.request("GET", url, **options)

    async def head(self, url: str, **options: Any) -> TestResponse:
        return await self.request("HEAD", url, **options)

    async def options(self, url: str, **options: Any) -> TestResponse:
        return await self.request("OPTIONS", url, **options)

    async def post(self, url: str, **options: Any) -> TestResponse:
        return await self.request("POST", url, **options)

    async def put(self, url: str, **options: Any) -> TestResponse:
        return await self.request("PUT", url, **options)

    async def patch(self, url: str, **options: Any) -> TestResponse:
        return await self.request("PATCH", url, **options)

    async def delete(self, url: str, **options: Any) -> TestResponse:
        return await self.request("DELETE", url, **options)


class TestClient:
    """The synchronous test client; ``with`` runs the app's lifespan.  See the module docstring."""

    __test__ = False

    def __init__(self, app: pyre.spec.Application, **options: Any) -> None:
        self.inner = AsyncTestClient(app, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: weakref.finalize[Any, Any] | None = None

    @property
    def cookies(self) -> dict[str, str]:
        return self.inner.cookies

    def __enter__(self) -> TestClient:
        self._call(self.inner.__aenter__())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._call(self.inner.__aexit__(exc_type, exc, tb))
        finally:
            self.close()

    def close(self) -> None:
        """Stop the background event loop (also done when the client is garbage collected)."""
        if self._stop is not None:
            self._stop()
        self._loop = self._thread = self._stop = None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="pyre-test-client", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            self._stop = weakref.finalize(self, _stop_loop, loop, thread)
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
        return future.result()

    def request(self, method: str, url: str, **options: Any) -> TestResponse:
        return self._call(self.inner.request(method, url, **options))

    @contextlib.contextmanager
    def websocket_connect(self, url: str, **options: Any) -> Iterator[WebSocketSession]:
        """``AsyncTestClient.websocket_connect``, synchronously."""
        opening = self.inner.websocket_connect(url, **options)
        session = self._call(opening.__aenter__())
        try:
            yield WebSocketSession(session, self)
        except BaseException as error:
            if not self._call(opening.__aexit__(type(error), error, error.__traceback__)):
                raise
        else:
            self._call(opening.__aexit__(None, None, None))

    def get(self, url: str, **options: Any) -> TestResponse:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> TestResponse:
        return self.request("HEAD", url, **options)

    def options(self, url: str, **options: Any) -> TestResponse:
        return self.request("OPTIONS", url, **options)

    def post(self, url: str, **options: Any) -> TestResponse:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> TestResponse:
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> TestResponse:
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> TestResponse:
        return self.request("DELETE", url, **options)


class WebSocketRefused(Exception):
    """The app answered a WebSocket handshake with an HTTP response: ``response``."""

    def __init__(self, response: TestResponse) -> None:
        super().__init__(f"the WebSocket handshake was answered with {response.status_code}")
        self.response = response


class _MemoryStream:
    """The app's side of an upgraded connection (a ``pyre.spec.ByteStream``), in memory."""

    def __init__(self) -> None:
        self.to_app: asyncio.Queue[bytes] = asyncio.Queue()
        self.to_client: asyncio.Queue[bytes] = asyncio.Queue()
        self._pending = b""
        self.closed = False

    async def read(self, max_bytes: int = 65536) -> bytes:
        if not self._pending and not self.closed:
            self._pending = await self.to_app.get()
            if not self._pending:
                self.closed = True
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise pyre.spec.ClientDisconnected("the test client closed the connection")
        self.to_client.put_nowait(data)

    async def close(self) -> None:
        self.to_client.put_nowait(b"")


class AsyncWebSocketSession:
    """The test client's end of one WebSocket, framed by wsproto; from ``websocket_connect``."""

    __test__ = False

    def __init__(self, response: pyre.spec.Response) -> None:
        self.response = response
        """The 101 response: ``response.headers`` has the chosen subprotocol and extensions."""
        self._stream = _MemoryStream()
        self._connection = Connection(ConnectionType.CLIENT)
        assert response.upgrade is not None
        self._task = asyncio.ensure_future(response.upgrade(self._stream))

    @property
    def subprotocol(self) -> str | None:
        return pyre.spec.Headers(list(self.response.headers)).get("sec-websocket-protocol")

    async def send_text(self, data: str) -> None:
        self._write(self._connection.send(TextMessage(data=data)))

    async def send_bytes(self, data: bytes) -> None:
        self._write(self._connection.send(BytesMessage(data=data)))

    async def send_json(self, data: Any) -> None:
        await self.send_text(orjson.dumps(data).decode())

    async def receive(self) -> str | bytes:
        """The next message; raises ``WebSocketDisconnect`` when the app closed the connection."""
        parts: list[Any] = []
        while True:
            for event in self._connection.events():
                if isinstance(event, Message):
                    parts.append(event.data)
                    if event.message_finished:
                        return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
                elif isinstance(event, Ping):
                    self._write(self._connection.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._connection.state is ConnectionState.REMOTE_CLOSING:
                        self._write(self._connection.send(event.response()))
                    raise WebSocketDisconnect(event.code, event.reason or "")
            if self._connection.state is ConnectionState.CLOSED:
                raise WebSocketDisconnect(1006)
            data = await asyncio.wait_for(self._stream.to_client.get(), CLOSE_TIMEOUT * 2)
            self._connection.receive_data(data or None)

    async def receive_text(self) -> str:
        message = await self.receive()
        assert isinstance(message, str), f"expected text, got {message!r}"
        return message

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        assert isinstance(message, bytes), f"expected bytes, got {message!r}"
        return message

    async def receive_json(self) -> Any:
        return orjson.loads(await self.receive())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._connection.state is ConnectionState.OPEN:
            self._write(self._connection.send(CloseConnection(code=code, reason=reason)))

    def _write(self, data: bytes) -> None:
        self._stream.to_app.put_nowait(data)

    async def finish(self) -> None:
        """Close (1000) unless closed, wait for the app's side to end, and raise what it raised."""
        await self.close()
        with contextlib.suppress(WebSocketDisconnect, TimeoutError):
            while self._connection.state is not ConnectionState.CLOSED:
                await self.receive()
        self._stream.to_app.put_nowait(b"")
        await asyncio.wait_for(self._task, CLOSE_TIMEOUT * 2)


class WebSocketSession:
    """``AsyncWebSocketSession`` for the synchronous ``TestClient``: the same methods, not awaited."""

    __test__ = False

    def __init__(self, inner: AsyncWebSocketSession, client: TestClient) -> None:
        self.inner = inner
        self._call = client._call

    @property
    def subprotocol(self) -> str | None:
        return self.inner.subprotocol

    def send_text(self, data: str) -> None:
        self._call(self.inner.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._call(self.inner.send_bytes(data))

    def send_json(self, data: Any) -> None:
        self._call(self.inner.send_json(data))

    def receive(self) -> str | bytes:
        return self._call(self.inner.receive())

    def receive_text(self) -> str:
        return self._call(self.inner.receive_text())

    def receive_bytes(self) -> bytes:
        return self._call(self.inner.receive_bytes())

    def receive_json(self) -> Any:
        return self._call(self.inner.receive_json())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._call(self.inner.close(code, reason))


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def _pairs(headers: HeadersInput | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    return list(headers.items() if isinstance(headers, Mapping) else headers)


def _target(url: str, params: Params | None) -> str:
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    query = quote(parts.query, safe="=&%+/:@!$'()*,;?~")
    if params:
        items = params.items() if isinstance(params, Mapping) else params
        pairs = [(key, item) for key, value in items for item in _values(value)]
        extra = urlencode(pairs)
        query = f"{query}&{extra}" if query else extra
    return f"{path}?{query}" if query else path


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return ["true" if item is True else "false" if item is False else str(item) for item in items]


def _encode_body(
    content: bytes | str | None, json: Any, data: Mapping[str, Any] | None, files: Files | None
) -> tuple[bytes, str | None]:
    if content is not None:
        return (content.encode() if isinstance(content, str) else content), None
    if json is not _NO_JSON:
        return orjson.dumps(json), "application/json"
    if files:
        return _multipart(data or {}, files)
    if data is not None:
        pairs = [(key, item) for key, value in data.items() for item in _values(value)]
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    return b"", None


def _multipart(data: Mapping[str, Any], files: Files) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in data.items():
        for item in _values(value):
            parts.append(_part(boundary, f'form-data; name="{name}"', None, item.encode()))
    for name, file in files.items():
        filename, payload, content_type = _file_fields(name, file)
        disposition = f'form-data; name="{name}"; filename="{filename}"'
        parts.append(_part(boundary, disposition, content_type, payload))
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _file_fields(name: str, file: FileValue) -> tuple[str, bytes, str]:
    if isinstance(file, tuple):
        filename, source = file[0], file[1]
        content_type = file[2] if len(file) == 3 else None
    else:
        filename, source, content_type = name, file, None
    payload = source if isinstance(source, bytes) else source.read()
    guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return filename, payload, content_type or guessed


def _part(boundary: str, disposition: str, content_type: str | None, payload: bytes) -> bytes:
    head = f"--{boundary}\r\ncontent-disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"content-type: {content_type}\r\n"
    return head.encode() + b"\r\n" + payload + b"\r\n"


__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "TestClient",
    "TestResponse",
    "WebSocketRefused",
    "WebSocketSession",
]
