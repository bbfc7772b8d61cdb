"""The framework's view of a request: a thin, lazy wrapper over a ``pyre.spec.Request``.

Building a ``Request`` costs one object: the URL, query, cookies and body
reader are made the first time they are asked for.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

import pyre.spec

from .datastructures import URL, FormData, QueryParams, parse_cookie_header, request_url
from .exceptions import FrameworkError, HTTPException
from .formparsers import DEFAULT_LIMITS, FormLimits, parse_multipart, parse_options_header, parse_urlencoded

if TYPE_CHECKING:
    from .middleware.sessions import Session


class Request:
    """One request as handlers and middleware see it."""

    # _session is set by SessionMiddleware only, so a Request costs nothing more without it.
    __slots__ = ("spec", "app", "path_params", "_url", "_query", "_cookies", "_body", "_session")
    _session: Session

    def __init__(
        self,
        spec_request: pyre.spec.Request,
        *,
        app: Any = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec_request
        self.app = app
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}
        self._url: URL | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._body: RequestBody | None = None

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def headers(self) -> pyre.spec.Headers:
        return self.spec.headers

    @property
    def client(self) -> pyre.spec.Address | None:
        return self.spec.client

    @property
    def state(self) -> pyre.spec.State:
        """The lifespan state, shared by every request: not a place for per-request values."""
        return self.spec.state

    @property
    def url(self) -> URL:
        url = self._url
        if url is None:
            url = self._url = request_url(self.spec)
        return url

    @property
    def query(self) -> QueryParams:
        query = self._query
        if query is None:
            query = self._query = QueryParams.parse(self.spec.query)
        return query

    @property
    def cookies(self) -> dict[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookie_header("; ".join(self.spec.headers.get_all("cookie")))
        return cookies

    @property
    def body(self) -> RequestBody:
        body = self._body
        if body is None:
            body = self._body = RequestBody(self.spec)
        return body

    @property
    def session(self) -> Session:
        """The session ``SessionMiddleware`` keeps in a signed cookie; an error without that middleware."""
        try:
            return self._session
        except AttributeError:
            raise FrameworkError(
                "request.session needs SessionMiddleware: "
                'app.add_middleware(SessionMiddleware(secret_key="..."))'
            ) from None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.spec.target.decode('latin-1')}>"


_UNSET: Any = object()


class RequestBody:
    """The request content, read once and remembered.

    ``bytes``, ``text``, ``json`` and ``form`` cache their results, so a
    middleware and then the handler may both read the body.  Iterating streams
    the content without keeping it; after a cached read it yields the cached
    bytes instead.  A body that was streamed (by iteration or by a multipart
    ``form``) cannot be read again.
    """

    __slots__ = ("_request", "_bytes", "_json", "_form", "_streamed")

    def __init__(self, request: pyre.spec.Request) -> None:
        self._request = request
        self._bytes: builtins.bytes | None = None
        self._json: Any = _UNSET
        self._form: FormData | None = None
        self._streamed = False

    @property
    def length(self) -> int | None:
        """The declared ``Content-Length``, or ``None`` for chunked content."""
        return self._request.body.length

    async def bytes(self, max_size: int | None = None) -> builtins.bytes:
        """The whole content; more than ``max_size`` bytes (or the server's limit) is a 413."""
        content = self._bytes
        if content is None:
            self._claim()
            try:
                content = await self._request.body.read(max_size)
            except pyre.spec.RequestBodyTooLarge as exc:
                raise HTTPException(413, f"request body exceeds {exc.limit} bytes") from exc
            self._bytes = content
        elif max_size is not None and len(content) > max_size:
            raise HTTPException(413, f"request body exceeds {max_size} bytes")
        return content

    async def text(self) -> str:
        """The content decoded with the ``Content-Type`` charset (UTF-8 when none is given)."""
        content = await self.bytes()
        charset = self._content_type()[1].get("charset", "utf-8")
        try:
            return content.decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"request body is not valid {charset}") from exc

    async def json(self) -> Any:
        """The content parsed as JSON; malformed JSON is a 400."""
        value = self._json
        if value is _UNSET:
            try:
                value = self._json = orjson.loads(await self.bytes())
            except orjson.JSONDecodeError as exc:
                raise HTTPException(400, f"request body is not valid JSON: {exc}") from exc
        return value

    async def form(self, limits: FormLimits = DEFAULT_LIMITS) -> FormData:
        """The submitted form, urlencoded or multipart; see ``FormLimits`` for the 413 limits."""
        form = self._form
        if form is not None:
            return form
        media_type, _ = self._content_type()
        if media_type == "application/x-www-form-urlencoded":
            form = parse_urlencoded(await self.bytes(limits.max_text_size), limits)
        elif media_type == "multipart/form-data":
            content_type = self._request.headers.get("content-type", "")
            form = await parse_multipart(content_type, self._chunks(), limits)
        else:
            raise HTTPException(415, "request body is not a form")
        self._form = form
        return form

    def __aiter__(self) -> AsyncIterator[builtins.bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[builtins.bytes]:
        content = self._bytes
        if content is not None:
            if content:
                yield content
            return
        self._claim()
        try:
            async for chunk in self._request.body:
                yield chunk
        except pyre.spec.RequestBodyTooLarge as exc:
            raise HTTPException(413, f"request body exceeds {exc.limit} bytes") from exc

    def _claim(self) -> None:
        if self._streamed:
            raise RuntimeError("the request body was already streamed and cannot be read again")
        self._streamed = True

    def _content_type(self) -> tuple[str, dict[str, str]]:
        return parse_options_header(self._request.headers.get("content-type", ""))


__all__ = [
    "Request",
    "RequestBody",
]
