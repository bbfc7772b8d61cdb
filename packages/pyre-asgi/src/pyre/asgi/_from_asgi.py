"""Serving an ASGI application on a pyre-spec server: ``from_asgi``.

How the ASGI app's coroutine meets the server
---------------------------------------------
An ASGI app pushes its response through ``send``; a pyre-spec app returns it.
The bridge calls the ASGI app and steps its coroutine itself:

* The fast path: the app sends ``http.response.start`` and a whole body
  without waiting on anything.  The first step runs it to its end and the
  ``Response`` gets a ``bytes`` body.  No Task, no Future, no queue.
* When the app waits, the bridge keeps stepping it inside the task that awaits
  the bridge (the server's call of the application, later the server's
  iteration of the body), passing whatever the app waits on up to that task
  exactly as ``await`` would.  The app runs in one task from start to end, so
  anyio cancel scopes, ``asyncio.timeout`` and context variables behave as
  under uvicorn, and the bridge never starts a Task of its own for it.
* Once the response head and a first body part are known while the app is
  still running, the bridge returns a ``Response`` whose body is a
  ``StreamBody``.  Each ``__anext__`` hands over the buffered parts or steps
  the app until it sends more: the app only runs while the server asks for
  content, which is the backpressure.  ``send`` itself waits only once more
  than ``HIGH_WATER`` bytes are buffered.
* ``send`` called from another task (anyio task groups, sse-starlette) wakes
  the stepping loop: while the app waits, the loop waits on a private "wake"
  future that either the app's own future or such a ``send`` completes.
* ``StreamBody.aclose()`` before the body was read, for a response that goes
  out without content (HEAD, 204, 304) to a client still connected: the app
  runs to its end, its body dropped, as under uvicorn.
* ``StreamBody.aclose()`` otherwise (the server gave up on the response, usually
  because the client left) raises ``ASGIClientDisconnected`` out of a waiting ``send``,
  or cancels whatever else the app waits on, and runs the app to its end.
* An exception once the response is complete (Starlette's ServerErrorMiddleware
  re-raises after sending its error page) is logged, and the response stands.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from types import CoroutineType
from typing import Any, Final

from pyre.spec import (
    EXT_EARLY_HINTS,
    EXT_TLS,
    EXT_UPGRADE,
    STATUSES_WITHOUT_CONTENT,
    ClientDisconnected,
    FileBody,
    RawHeaders,
    Request,
    RequestBodyTooLarge,
    Response,
    ServerInfo,
    open_file_body,
)
from pyre.spec import State as SpecState

from ._detect import as_asgi3
from ._errors import ASGIClientDisconnected, ASGIProtocolError
from ._lifespan import LifespanRunner
from ._messages import body_bytes, final_status, header_pairs
from ._paths import asgi_paths
from ._stepping import AppStepper, drive
from ._tls import asgi_tls
from ._types import ASGI_VERSION, HTTP_SPEC_VERSION, Message
from ._websocket import MAX_MESSAGE, is_websocket_request, serve_websocket

logger = logging.getLogger("pyre.asgi")

HIGH_WATER: Final = 65536
"""Buffered response bytes beyond which ``send`` waits for the server to take them."""

# Phases of the response, in the order the ASGI messages move it along.
START: Final = 0  # before http.response.start
HEAD: Final = 1  # start received, no body message yet
BODY: Final = 2  # body received, more_body=True
TRAILERS: Final = 3  # body finished, http.response.trailers expected
COMPLETE: Final = 4

# What a stepping loop runs the app until.
GOAL_RESPONSE: Final = 0  # enough to return a Response: the head and a first body message
GOAL_CHUNK: Final = 1  # buffered content, or the end of the body
GOAL_TRAILERS: Final = 2  # the last trailers message
GOAL_FINISH: Final = 3  # the app returned


_ASGI_INFO: Final = {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION}


def from_asgi(app: Any, *, ws_max_size: int = MAX_MESSAGE, require_lifespan: bool = False) -> FromASGI:
    """A pyre-spec application (with ``lifespan``) serving the ASGI 3 or ASGI 2 application ``app``.

    ``ws_max_size``: the largest WebSocket message, in bytes (uvicorn's ``--ws-max-size``).
    ``require_lifespan``: an app that does not support the lifespan protocol fails the
    server's startup rather than being served without it (uvicorn's ``--lifespan on``).
    """
    if ws_max_size <= 0:
        raise ValueError("ws_max_size must be positive")
    return FromASGI(app, ws_max_size=ws_max_size, require_lifespan=require_lifespan)


class FromASGI:
    """A pyre-spec application that runs an ASGI application once per request."""

    def __init__(self, app: Any, *, ws_max_size: int = MAX_MESSAGE, require_lifespan: bool = False) -> None:
        self.app = as_asgi3(app)
        self.ws_max_size = ws_max_size
        self.require_lifespan = require_lifespan
        self._info: ServerInfo | None = None
        self._extensions: dict[str, object] = {}
        self._upgrades = False
        self._tls = False
        # ASGI's tls extension, for the connection whose pyre.tls mapping this is.
        self._tls_session: object = None
        self._tls_extensions: dict[str, object] = {}

    def lifespan(self, server: ServerInfo, state: SpecState, /) -> AbstractAsyncContextManager[None]:
        """The ASGI lifespan protocol: startup on enter, shutdown on exit, ``state`` shared."""
        return LifespanRunner(self.app, state, self.require_lifespan)

    async def __call__(self, request: Request, /) -> Response:
        info = request.server_info
        if info is not self._info:
            self._extensions = scope_extensions(info)
            self._upgrades = info.supports(EXT_UPGRADE)
            self._tls = info.supports(EXT_TLS)
            self._info = info
        headers = [(name.lower(), value) for name, value in request.headers.raw]
        if self._upgrades and request.method == "GET" and is_websocket_request(headers):
            return await serve_websocket(self.app, request, headers, self.ws_max_size)
        exchange = Exchange(request)
        root_path = request.root_path
        if root_path:
            path, raw_path = asgi_paths(request, root_path)
        else:
            path, raw_path = request.path, request.raw_path
        scope = {
            "type": "http",
            "asgi": _ASGI_INFO,
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": request.query,
            "root_path": root_path,
            "headers": headers,
            "client": request.client,
            "server": request.server,
            "state": dict(request.state),
            "extensions": self._scope_extensions_over_tls(request) if self._tls else self._extensions,
        }
        coro = self.app(scope, exchange.receive, exchange.send)
        exchange.coro = coro if type(coro) is CoroutineType else coro.__await__()
        try:
            exchange.step()
            if not exchange.finished:
                if exchange.phase < BODY:
                    await drive(exchange, GOAL_RESPONSE)
                if exchange.file is not None and not exchange.finished:
                    # A FileBody cannot be followed by more work of the app's, so that work goes first.
                    await drive(exchange, GOAL_FINISH)
        except Exception as error:
            if exchange.too_large is not None:
                raise exchange.too_large from error  # the server answers 413, as for a pyre-spec app
            exchange.failed(error)
        if (
            exchange.finished
            and exchange.phase == COMPLETE
            and exchange.file is None
            and not exchange.want_trailers
        ):
            # The fast path: the app sent its whole response without waiting for anything.
            parts = exchange.parts
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            return Response(exchange.status, exchange.headers, body)
        return exchange.response()

    def _scope_extensions_over_tls(self, request: Request) -> dict[str, object]:
        """The extensions with ASGI's ``tls`` for the request's connection: the server gives
        each connection one ``pyre.tls`` mapping, so this is built once per connection while
        its requests follow each other."""
        session = request.extensions.get(EXT_TLS)
        if not isinstance(session, Mapping):  # a request that did not arrive over TLS
            return self._extensions
        if session is not self._tls_session:
            self._tls_extensions = {**self._extensions, "tls": asgi_tls(session)}
            self._tls_session = session
        return self._tls_extensions


def scope_extensions(info: ServerInfo) -> dict[str, object]:
    """The ASGI extensions a pyre server with ``info`` can carry out.

    Trailers and file bodies are core pyre-spec (``Response.trailers``,
    ``FileBody``), so every server honours them; 103 needs the early-hints extension.
    """
    extensions: dict[str, object] = {
        "http.response.trailers": {},
        "http.response.pathsend": {},
        "http.response.zerocopysend": {},
    }
    if info.supports(EXT_EARLY_HINTS):
        extensions["http.response.early_hint"] = {}
    return extensions


class Exchange(AppStepper):
    """One request's ``receive``/``send`` pair, the app's coroutine and the response it built."""

    __slots__ = (
        "request",
        "phase",
        "status",
        "headers",
        "parts",
        "buffered",
        "file",
        "want_trailers",
        "trailer_fields",
        "drain",
        "closed",
        "chunks",
        "remaining",
        "body_done",
        "too_large",
        "completion",
    )

    def __init__(self, request: Request) -> None:
        # AppStepper's fields too, set here: super().__init__() costs ~1,200 instructions a request.
        self.coro = None
        self.signal = None
        self.stepping = False
        self.finished = False
        self.wake = None
        self.request = request
        self.phase = START
        self.status = 500
        self.headers: RawHeaders = ()
        self.parts: list[bytes] = []
        self.buffered = 0
        self.file: FileBody | None = None
        self.want_trailers = False
        self.trailer_fields: RawHeaders = ()
        self.drain: asyncio.Future[None] | None = None
        self.closed = False
        self.chunks: AsyncIterator[bytes] | None = None
        self.remaining: int | None = None
        self.body_done = False
        self.too_large: RequestBodyTooLarge | None = None
        self.completion: asyncio.Future[None] | None = None

    # -- the app's side: receive and send ---------------------------------------------------------

    async def receive(self) -> Message:
        if not self.body_done:
            return await self._read_body()
        if self.phase != COMPLETE and not self.closed and not self.request.disconnected:
            await self._wait_disconnect_or_complete()
        # ASGI: after the response is sent, or once the client has gone.
        return {"type": "http.disconnect"}

    async def _read_body(self) -> Message:
        chunks = self.chunks
        if chunks is None:
            body = self.request.body
            length = body.length
            if length == 0:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self.remaining = length
            chunks = self.chunks = body.__aiter__()
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        except ClientDisconnected:
            self.body_done = True
            self.closed = True
            return {"type": "http.disconnect"}
        except RequestBodyTooLarge as error:
            # The server answers 413 and closes.  Told as an error, a framework answers it
            # itself (FastAPI: 400 "error parsing the body"); told that the client has gone,
            # the app stops, and its end becomes the 413.
            self.too_large = error
            self.body_done = True
            self.closed = True
            return {"type": "http.disconnect"}
        remaining = self.remaining
        if remaining is None:
            return {"type": "http.request", "body": chunk, "more_body": True}
        remaining -= len(chunk)
        self.remaining = remaining
        if remaining > 0:
            return {"type": "http.request", "body": chunk, "more_body": True}
        # The declared length is in: finish the stream so the server sees the body read to its end.
        self.body_done = True
        try:
            async for _ in chunks:
                pass
        except ClientDisconnected:
            self.closed = True
        return {"type": "http.request", "body": chunk, "more_body": False}

    async def _wait_disconnect_or_complete(self) -> None:
        loop = asyncio.get_running_loop()
        completion = self.completion
        if completion is None:
            completion = self.completion = loop.create_future()
        watcher = loop.create_task(self.request.wait_disconnected())
        try:
            await asyncio.wait((watcher, completion), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()

    async def send(self, message: Message) -> None:
        if self.closed or self.request.disconnected:
            raise ASGIClientDisconnected("the client disconnected")
        kind = message["type"]
        phase = self.phase
        if kind == "http.response.body" and HEAD <= phase <= BODY:
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = body_bytes(body, kind)
            if body:
                self.parts.append(body)
            if message.get("more_body", False):
                self.phase = BODY
                # Counted only while more is to come: only then can send wait for the server.
                self.buffered += len(body)
                if self.buffered > HIGH_WATER:
                    await self._wait_drain()
                    return
            elif self.want_trailers:
                self.phase = TRAILERS
            else:
                self._complete()
        elif kind == "http.response.start" and phase == START:
            status = message.get("status")
            if type(status) is not int or not 200 <= status <= 599:
                status = final_status(status, kind)
            self.headers = header_pairs(message.get("headers", ()), kind)
            self.status = status
            self.want_trailers = bool(message.get("trailers", False))
            self.phase = HEAD
            return
        elif kind == "http.response.trailers" and phase == TRAILERS:
            self.trailer_fields = [*self.trailer_fields, *header_pairs(message.get("headers", ()), kind)]
            if not message.get("more_trailers", False):
                self._complete()
        elif kind == "http.response.pathsend" and phase == HEAD:
            self.file = FileBody(path=message["path"])
            self._body_finished()
        elif kind == "http.response.zerocopysend" and phase in (HEAD, BODY):
            await self._zero_copy(message)
        elif kind == "http.response.early_hint" and phase == START:
            links = [(b"link", link) for link in message.get("links", ())]
            await self.request.send_interim(103, links)
            return
        elif phase == COMPLETE:
            # ASGI: "any further messages on the channel will be ignored" -- but not silently.
            logger.error("ASGI application sent %r after its response was complete; ignored", kind)
            return
        else:
            raise ASGIProtocolError(f"unexpected ASGI message {kind!r} (response phase {phase})")
        if not self.stepping:
            self.wake_driver()

    async def _zero_copy(self, message: Message) -> None:
        file = message["file"]
        fd = file if isinstance(file, int) else file.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        more = message.get("more_body", False)
        # The app keeps its descriptor: the region gets a copy, which its reader or the server closes.
        copy = os.dup(fd)
        try:
            region = FileBody(fd=copy, offset=offset, count=message.get("count"))
        except (TypeError, ValueError) as error:
            os.close(copy)
            raise ASGIProtocolError(f"'http.response.zerocopysend' message: {error}") from None
        if self.phase == HEAD and not more:
            # The whole body is this region: the server sends it.
            self.file = region
            self._body_finished()
            return
        # Read in chunks in a worker thread, never on the loop; a region past the end of the
        # file is FileTooShort raised into the app's send(), not a shorter body.
        async for content in await open_file_body(region):
            self.parts.append(content)
            self.buffered += len(content)
        if more:
            self.phase = BODY
        else:
            self._body_finished()

    async def _wait_drain(self) -> None:
        drain = self.drain
        if drain is None:
            drain = self.drain = asyncio.get_running_loop().create_future()
        if not self.stepping:
            self.wake_driver()
        await drain

    def _body_finished(self) -> None:
        if self.want_trailers:
            self.phase = TRAILERS
        else:
            self._complete()

    def _complete(self) -> None:
        self.phase = COMPLETE
        completion = self.completion
        if completion is not None and not completion.done():
            completion.set_result(None)

    # -- the server's side: stepping the app and building the response ----------------------------

    def release(self) -> None:
        drain = self.drain
        if drain is not None and not self.parts:
            # The server has taken every buffered part and wants more.
            self.drain = None
            if not drain.done():
                drain.set_result(None)

    def returned(self) -> None:
        completion = self.completion
        if completion is not None and not completion.done():
            completion.set_result(None)

    def reached(self, goal: int) -> bool:
        if goal == GOAL_RESPONSE:
            return self.phase >= BODY
        if goal == GOAL_CHUNK:
            return bool(self.parts) or self.phase >= TRAILERS
        if goal == GOAL_TRAILERS:
            return self.phase == COMPLETE
        return False

    def take_parts(self) -> bytes:
        parts = self.parts
        self.parts = []
        self.buffered = 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def sends_no_content(self) -> bool:
        """Whether the server sends this response without content (RFC 9110 sections 9.3.2, 15.3.5, 15.4.5).

        Then the server closing the stream unread is no sign of trouble.  Otherwise it
        is (the client left, or the head was refused) and the app is told the client left.
        """
        return self.request.method == "HEAD" or self.status in STATUSES_WITHOUT_CONTENT

    async def drop_body(self) -> None:
        """No content goes out (HEAD, 204, 304) to a client still there: run the app to its end.

        As under uvicorn, the app is not cancelled: its body is taken and dropped, so
        that what it does after sending (cleanup, background work) still runs.
        """
        async for _ in StreamBody(self):
            pass
        if not self.finished:  # the app sends trailers, or still runs after them
            try:
                await drive(self, GOAL_FINISH)
            except Exception as error:
                self.failed(error)

    def failed(self, error: Exception) -> None:
        """The app raised ``error``: raise it on, unless its response was complete, then log it only."""
        if self.phase != COMPLETE:
            raise error
        if isinstance(error, ClientDisconnected):
            logger.debug("ASGI application ended with %r after its response", error)
        else:
            # Starlette's ServerErrorMiddleware sends its error page, then re-raises: keep the page.
            logger.error("Exception in ASGI application after its response was complete", exc_info=error)

    def response(self) -> Response:
        trailers = self.read_trailers if self.want_trailers else None
        if not self.finished:
            return Response(self.status, self.headers, StreamBody(self), trailers=trailers)
        if self.phase < TRAILERS:
            if self.too_large is not None:
                raise self.too_large
            what = "sending a response" if self.phase == START else "finishing its response body"
            raise ASGIProtocolError(f"the ASGI application returned without {what}")
        body = self.file if self.file is not None else self.take_parts()
        return Response(self.status, self.headers, body, trailers=trailers)

    async def read_trailers(self) -> RawHeaders:
        """``Response.trailers``: the app's trailers messages, once it has sent the last one."""
        if self.phase < TRAILERS:  # asked without the content having been taken (HEAD)
            await self.drop_body()
        try:
            await drive(self, GOAL_TRAILERS)
            await drive(self, GOAL_FINISH)
        except Exception as error:
            self.failed(error)
        return self.trailer_fields


class StreamBody:
    """The response content of an ASGI app still running when its response went to the server."""

    __slots__ = ("exchange", "iterated")

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.iterated = False

    def __aiter__(self) -> StreamBody:
        return self

    async def __anext__(self) -> bytes:
        self.iterated = True
        exchange = self.exchange
        if not exchange.parts and exchange.phase < TRAILERS:
            try:
                await drive(exchange, GOAL_CHUNK)
            except Exception as error:
                exchange.failed(error)
        if exchange.parts:
            return exchange.take_parts()
        if exchange.phase < TRAILERS:
            raise ASGIProtocolError("the ASGI application returned without finishing its response body")
        if not exchange.want_trailers:
            # The client has the whole body; whatever the app does now (background tasks) ends here.
            try:
                await drive(exchange, GOAL_FINISH)
            except Exception as error:
                exchange.failed(error)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """The server is done with the body: let the app finish, or tell it the client has gone."""
        exchange = self.exchange
        if exchange.finished:
            return
        if not self.iterated and exchange.sends_no_content() and not exchange.request.disconnected:
            await exchange.drop_body()
            return
        exchange.closed = True
        exchange.parts = []
        exchange._complete()
        cancelled = False
        drain = exchange.drain
        if drain is not None and not drain.done():
            exchange.drain = None
            drain.set_exception(ASGIClientDisconnected("the client disconnected"))
        elif exchange.signal is not None and not exchange.signal.done():
            cancelled = exchange.signal.cancel()
        try:
            await drive(exchange, GOAL_FINISH)
        except asyncio.CancelledError:
            if not cancelled:
                raise
        except Exception as error:
            # Most often the app's own reaction to the disconnect (Starlette turns the
            # OSError into its ASGIClientDisconnected); the server asked for no more, so nothing to report.
            logger.debug("ASGI application ended with %r after its response was abandoned", error)
