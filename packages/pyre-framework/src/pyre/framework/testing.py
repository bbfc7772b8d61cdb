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
import mimetypes
import threading
import uuid
import weakref
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import IO, Any, TypeAlias, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import orjson

import pyre.spec
from pyre.spec.testing import Driver, DriverResponse

from .datastructures import parse_cookie_header

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
        target = _target(url, params)
        header_list = [*self.headers, *_pairs(headers)]
        body, content_type = _encode_body(content, json, data, files)
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
        request = self._driver.build(
            method, target, headers=raw, body=body, scheme=self.scheme, client=self.client
        )
        answer = await self._driver.send(request)
        self._keep_cookies(answer.headers)
        return TestResponse(method, answer)

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
    "TestClient",
    "TestResponse",
]
