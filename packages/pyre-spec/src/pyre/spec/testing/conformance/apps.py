"""The canonical applications the conformance suite runs on the server under test.

Each is a module-level object, so a server started in another process can load
it by import path: ``import_path(app)`` gives ``"pyre.spec.testing.conformance.apps:echo"``.

The apps are plain pyre-spec applications.  A test coordinates with an app
through its own HTTP requests, never through shared memory, so the suite works
the same against an in-process server and a separate process.  Every app
answers two control routes:

``/_control/post?id=ID&value=V``
    records ``V`` under ``ID``;
``/_control/wait?id=ID``
    waits (at most ``CONTROL_TIMEOUT`` seconds) for a value under ``ID`` and returns it.

The state behind them lives in this module, so a server must run the suite's
apps in a single process (one worker).

Every app but ``unchecked`` runs under ``pyre.spec.testing.validate``: a request
that breaks a server-side requirement of the document (say ``request.client`` a
list) is answered 500 with the violation in an ``x-pyre-spec-violation`` field,
and the suite's client fails the case with that assertion ID, whatever the case
checks.  ``unchecked`` misbehaves on purpose, so that the validator's app-side
rejection does not hide the server's own check.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs

from ..._application import Application, HasLifespan
from ..._errors import ClientDisconnected, RequestBodyTooLarge
from ..._request import Request, State
from ..._response import FileBody, Response
from ..._upgrade import ByteStream
from ..._version import EXT_EARLY_HINTS, EXT_UPGRADE, ServerInfo
from ..._websocket import EXT_WEBSOCKET, WebSocketSession
from .._validator import SpecViolation, validate
from ._client import VIOLATION_FIELD

__all__ = [
    "CONTROL_TIMEOUT",
    "FILE_PATH",
    "LifespanApp",
    "disconnect",
    "echo",
    "errors",
    "expect_continue",
    "failing_lifespan",
    "import_path",
    "inside",
    "lifespan",
    "probe",
    "responses",
    "slow_consumer",
    "streaming",
    "trailers",
    "unchecked",
    "upgrade",
    "websocket",
]

CONTROL_TIMEOUT = 10.0
FILE_PATH = os.path.abspath(__file__)
"""The file the ``responses`` app serves as a ``FileBody``; the client compares it byte for byte."""

Handler = Callable[[Request], Awaitable[Response]]

_posted: dict[str, asyncio.Future[str]] = {}
_seen: list[str] = []


def _slot(key: str) -> asyncio.Future[str]:
    future = _posted.get(key)
    if future is None:
        future = _posted[key] = asyncio.get_running_loop().create_future()
    return future


def post(key: str, value: str) -> None:
    """Record ``value`` for whoever waits on ``key`` (from inside an app)."""
    future = _slot(key)
    if not future.done():
        future.set_result(value)


async def _wait(key: str) -> str | None:
    try:
        return await asyncio.wait_for(asyncio.shield(_slot(key)), CONTROL_TIMEOUT)
    except TimeoutError:
        return None


def _params(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.query.decode("latin-1")).items()}


def _text(body: str, status: int = 200) -> Response:
    return Response(status, [(b"content-type", b"text/plain; charset=utf-8")], body.encode())


def _json(value: Any, status: int = 200) -> Response:
    return Response(status, [(b"content-type", b"application/json")], json.dumps(value).encode())


def _controlled(handler: Handler) -> Handler:
    async def app(request: Request) -> Response:
        if request.raw_path.startswith(b"/_control/"):
            return await _control(request)
        return await handler(request)

    app.__name__ = app.__qualname__ = handler.__name__
    app.__doc__ = handler.__doc__
    return app


async def _control(request: Request) -> Response:
    params = _params(request)
    if request.raw_path == b"/_control/post":
        post(params["id"], params.get("value", ""))
        return _text("posted")
    if request.raw_path == b"/_control/wait":
        reported = _violations.pop(request.server, None)
        if reported is None:
            value = await _wait(params["id"])
            if value != _VIOLATED:
                return _text("timeout", 504) if value is None else _text(value)
            reported = _violations.pop(request.server, "a server broke the spec while this waited")
        return _violation_response(reported)
    if request.raw_path == b"/_control/violations":
        reported = _violations.pop(request.server, None)
        return _text("none") if reported is None else _violation_response(reported)
    if request.raw_path == b"/_control/seen":
        seen = list(_seen)
        _seen.clear()
        return _json(seen)
    return _text("unknown control route", 404)


_violations: dict[object, str] = {}
"""The last violation each server (by address) handed an app, for the next control wait on it
and for ``/_control/violations``, which the suite asks after each case."""
_VIOLATED = "\x00violated"


def _record(violation: SpecViolation, server: object) -> str:
    """Keep ``violation`` for the next report on ``server``, and end the waits pending now with it,
    so a case waiting for the app fails with the ID, not a timeout."""
    report = str(violation)
    _violations[server] = report
    for future in _posted.values():
        if not future.done():
            future.set_result(_VIOLATED)
    return report


def _violation(violation: SpecViolation, request: Request) -> Response:
    return _violation_response(_record(violation, request.server))


def _violation_response(report: str) -> Response:
    field = report[:1000].encode("ascii", "backslashreplace")
    return Response(500, [(VIOLATION_FIELD, field)], field)


class _RecordedStream:
    """A response stream whose violations, found while the server sends it, are recorded."""

    def __init__(self, stream: AsyncIterable[bytes], server: object) -> None:
        self._iterator = aiter(stream)
        self._server = server

    def __aiter__(self) -> _RecordedStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._iterator)
        except SpecViolation as violation:
            _record(violation, self._server)
            raise

    async def aclose(self) -> None:
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await close()


def _recorded_call(function: Callable[..., Awaitable[Any]], server: object) -> Callable[..., Awaitable[Any]]:
    """The trailers callable or upgrade handler, with the violations it raises recorded."""

    async def recorded(*arguments: Any) -> Any:
        try:
            return await function(*arguments)
        except SpecViolation as violation:
            _record(violation, server)
            raise

    return recorded


def _recorded(response: Response, server: object) -> Response:
    """``response``, with what the validator finds while the server sends it recorded for ``server``:
    a violation there aborts the response, so the wire alone would not name it."""
    streamed = not isinstance(response.body, (bytes, FileBody))
    if not streamed and response.trailers is None and response.upgrade is None:
        return response
    recorded = copy.copy(response)
    if streamed:
        recorded.body = _RecordedStream(cast(AsyncIterable[bytes], response.body), server)
    if response.trailers is not None:
        recorded.trailers = _recorded_call(response.trailers, server)
    if response.upgrade is not None:
        recorded.upgrade = _recorded_call(response.upgrade, server)
    return recorded


def _checked(handler: Handler) -> Handler:
    """``handler`` with control routes, and the server's side checked by ``validate``."""
    validated = validate(handler)

    async def checked(request: Request) -> Response:
        try:
            response = await validated(request)
        except SpecViolation as violation:
            return _violation(violation, request)
        return _recorded(response, request.server)

    checked.__name__ = checked.__qualname__ = handler.__name__
    checked.__doc__ = handler.__doc__
    return _controlled(checked)


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")


@_checked
async def echo(request: Request) -> Response:
    """The request as the app saw it, as JSON; byte strings are decoded as ISO-8859-1.

    It also remembers ``"METHOD target"`` of each request, for ``/_control/seen``,
    so a test can prove a smuggled request never reached the application.
    """
    _seen.append(f"{request.method} {_latin1(request.target)}")
    declared = request.body.length
    body = await request.body.read()
    trailers = request.trailers
    # CONNECT asks a proxy for a tunnel; an origin server refuses it (RFC 9110 section 9.3.6),
    # but still reports what it parsed.
    status = 405 if request.method == "CONNECT" else 200
    return _json(
        {
            "method": request.method,
            "target": _latin1(request.target),
            "path": request.path,
            "raw_path": _latin1(request.raw_path),
            "query": _latin1(request.query),
            "http_version": request.http_version,
            "scheme": request.scheme,
            "authority": request.authority,
            "headers": [[_latin1(name), _latin1(value)] for name, value in request.headers.raw],
            "body": _latin1(body),
            "body_length": declared,
            "trailers": None if trailers is None else [[_latin1(n), _latin1(v)] for n, v in trailers.raw],
        },
        status,
    )


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _gated(key: str) -> AsyncIterator[bytes]:
    yield b"first\n"
    await _wait(key)
    yield b"second\n"


@_checked
async def streaming(request: Request) -> Response:
    """Streamed response bodies.

    ``/chunks?n=N`` yields ``chunk-i`` lines; ``/gated?id=ID`` yields one line,
    then waits for ``ID`` before the second, so the client can prove the first
    reached it before the stream ended; ``/with-length`` streams with an app
    ``content-length``; ``/empty`` yields nothing.
    """
    route = request.raw_path
    if route == b"/gated":
        return Response(200, [(b"content-type", b"text/plain")], _gated(_params(request)["id"]))
    if route == b"/with-length":
        return Response(200, [(b"content-length", b"10")], _chunks([b"01234", b"56789"]))
    if route == b"/empty":
        return Response(200, [], _chunks([]))
    count = int(_params(request).get("n", "3"))
    return Response(
        200, [(b"content-type", b"text/plain")], _chunks([b"chunk-%d\n" % i for i in range(count)])
    )


@_checked
async def slow_consumer(request: Request) -> Response:
    """``/upload?id=ID`` reads nothing until ``ID`` is posted, then counts the body."""
    await _wait(_params(request)["id"])
    size = 0
    try:
        async for chunk in request.body:
            size += len(chunk)
    except RequestBodyTooLarge:
        return _json({"read": size, "too_large": True})
    return _json({"read": size, "too_large": False})


async def _endless(key: str) -> AsyncIterator[bytes]:
    block = b"x" * 16384
    try:
        for _ in range(16384):
            yield block
    finally:
        post(key, "stream closed")


@_checked
async def disconnect(request: Request) -> Response:
    """What the app sees when the client leaves; each route posts its finding under ``id``.

    ``/wait``: ``wait_disconnected()`` returned (and ``disconnected`` is then true);
    ``/read``: reading the body raised ``ClientDisconnected``;
    ``/stream``: the server stopped and closed an endless response stream.
    """
    key = _params(request)["id"]
    route = request.raw_path
    if route == b"/wait":
        await request.wait_disconnected()
        post(key, f"disconnected={request.disconnected}")
        return _text("gone")
    if route == b"/read":
        try:
            body = await request.body.read()
        except ClientDisconnected:
            post(key, "ClientDisconnected")
            raise
        post(key, f"read {len(body)} bytes")
        return _text("read")
    return Response(200, [(b"content-type", b"application/octet-stream")], _endless(key))


@_checked
async def trailers(request: Request) -> Response:
    """``/echo``: the request body and trailers (and whether trailers showed before the body
    was read); ``/send``: a streamed response with an ``x-checksum`` trailer."""
    if request.raw_path == b"/send":

        async def checksum() -> list[tuple[bytes, bytes]]:
            return [(b"x-checksum", b"c0ffee")]

        return Response(
            200, [(b"trailer", b"x-checksum")], _chunks([b"with ", b"trailers"]), trailers=checksum
        )
    before = request.trailers
    body = await request.body.read()
    after = request.trailers
    return _json(
        {
            "before": None if before is None else list(before),
            "body": _latin1(body),
            "trailers": None if after is None else [list(pair) for pair in after],
        }
    )


@_checked
async def expect_continue(request: Request) -> Response:
    """``/read`` reads and returns the body; ``/ignore`` answers without reading it."""
    if request.raw_path == b"/ignore":
        return _text("ignored the body")
    return Response(200, [], await request.body.read())


@_checked
async def responses(request: Request) -> Response:
    """Fixed responses: ``/bytes``, ``/204``, ``/304``, ``/file``, ``/file-range``,
    ``/file-fd``, ``/big``, ``/early-hints``, ``/close`` (the app asks for
    ``connection: close``), ``/status?code=N``."""
    route = request.raw_path
    if route == b"/204":
        return Response(204, [(b"x-app", b"no-content")], b"this body must not be sent")
    if route == b"/304":
        return Response(304, [(b"etag", b'"v1"')], b"this body must not be sent")
    if route == b"/file":
        return Response(200, [(b"content-type", b"application/toml")], FileBody(path=FILE_PATH))
    if route == b"/file-range":
        return Response(200, [], FileBody(path=FILE_PATH, offset=10, count=100))
    if route == b"/file-fd":
        return Response(200, [], FileBody(fd=os.open(FILE_PATH, os.O_RDONLY), offset=5))
    if route == b"/big":
        return Response(200, [], bytes(range(256)) * 4096)
    if route == b"/early-hints":
        await request.send_interim(103, [(b"link", b"</style.css>; rel=preload; as=style")])
        supported = request.server_info.supports(EXT_EARLY_HINTS)
        return _text("hinted" if supported else "no early hints")
    if route == b"/close":
        return Response(200, [(b"connection", b"close")], b"closing")
    if route == b"/status":
        return Response(int(_params(request)["code"]), [], b"")
    return Response(200, [(b"content-type", b"text/plain")], b"hello, world\n")


class _AppError(Exception):
    pass


async def _failing_stream() -> AsyncIterator[bytes]:
    yield b"partial "
    await asyncio.sleep(0)
    raise _AppError("conformance-secret: raised while streaming")


@_checked
async def errors(request: Request) -> Response:
    """``/raise``: raises before a response; ``/raise-mid-stream``: raises after the first chunk;
    ``/raise-with-length``: the same with an app ``content-length``."""
    if request.raw_path == b"/raise":
        raise _AppError("conformance-secret: raised before the response")
    if request.raw_path == b"/raise-with-length":
        return Response(200, [(b"content-length", b"100")], _failing_stream())
    return Response(200, [], _failing_stream())


_lifespan_context: contextvars.ContextVar[str] = contextvars.ContextVar("pyre_conformance_lifespan")


class LifespanApp:
    """An app with a lifespan: startup fills ``state`` and sets a context variable that
    requests must not see (PYRE-APP-9); each request reports both."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    @asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        if self.fail:
            raise RuntimeError("conformance: startup failed on purpose")
        # A startup that takes a while: a server that serves before it ends calls the app while
        # the validator sees startup running (PYRE-LIFE-3).
        await asyncio.sleep(0.2)
        state["started_by"] = server.name
        state["requests"] = 0
        _lifespan_context.set("set in lifespan")
        yield

    async def __call__(self, request: Request) -> Response:
        state = request.state
        state["requests"] = state.get("requests", 0) + 1
        return _json(
            {
                "started_by": state.get("started_by"),
                "requests": state["requests"],
                "spec_version": request.server_info.spec_version,
                "lifespan_context": _lifespan_context.get(None),
            }
        )


class _CheckedLifespanApp:
    """A ``LifespanApp`` under ``validate``, reporting violations as ``_checked`` does."""

    def __init__(self, app: LifespanApp) -> None:
        validated = validate(app)
        assert isinstance(validated, HasLifespan)
        self._validated = validated

    def lifespan(self, server: ServerInfo, state: State) -> AbstractAsyncContextManager[None]:
        return self._validated.lifespan(server, state)

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._validated(request)
        except SpecViolation as violation:
            return _violation(violation, request)


lifespan = _CheckedLifespanApp(LifespanApp())
failing_lifespan = _CheckedLifespanApp(LifespanApp(fail=True))

_server_infos: dict[object, ServerInfo] = {}
"""The first ServerInfo each server (by its address) handed in, to compare later ones with."""
_calls: dict[str, int] = {}
_running: set[asyncio.Task[Any]] = set()


def _server_report(request: Request) -> dict[str, Any]:
    info = request.server_info
    first = _server_infos.setdefault(request.server, info)
    return {
        "scheme": request.scheme,
        "root_path": request.root_path,
        "path": request.path,
        "extensions": sorted(request.extensions),
        "spec_version": info.spec_version,
        "server_extensions": sorted(info.extensions),
        "same_server_info": info is first,
        "disconnected": request.disconnected,
    }


async def _task_report(key: str) -> str:
    task = asyncio.current_task()
    if task is None:
        return "no current task"
    if task in _running:
        return "the task is running another request's app"
    _running.add(task)
    post(f"{key}-running", "yes")
    try:
        async with asyncio.timeout(CONTROL_TIMEOUT):
            await _wait(key)
    finally:
        _running.discard(task)
    return "own task"


async def _watch_disconnect(request: Request, key: str, poll: bool) -> None:
    before = request.disconnected
    post(f"{key}-started", "yes")
    try:
        if poll:  # without wait_disconnected(): the server must watch the connection itself
            for _ in range(200):  # two seconds, well inside any client timeout: then report
                if request.disconnected:
                    break
                await asyncio.sleep(0.01)
        else:
            await request.wait_disconnected()
    except SpecViolation as violation:
        post(key, str(violation))
        raise
    after = request.disconnected
    await asyncio.sleep(0)
    post(key, f"before={before} after={after} later={request.disconnected}")


async def _read_after_disconnect(request: Request, key: str) -> None:
    await request.wait_disconnected()
    try:
        await request.body.read()
    except Exception as error:
        post(key, str(error) if isinstance(error, SpecViolation) else type(error).__name__)
        raise
    post(key, "read returned")


async def _mixed_read(request: Request) -> Response:
    chunks = aiter(request.body)
    first = await anext(chunks, b"")
    rest = await request.body.read()
    again = await request.body.read()
    return _json({"first": _latin1(first), "rest": _latin1(rest), "again": _latin1(again)})


async def _read_max(request: Request, limit: int) -> Response:
    try:
        content = await request.body.read(limit)
    except RequestBodyTooLarge as error:
        return _json({"raised": True, "limit": error.limit})
    return _json({"raised": False, "read": len(content)})


async def _past_the_limit(request: Request) -> Response:
    """Read past the server's own limit, then read again (PYRE-BODY-19)."""
    raised = []
    for _ in range(2):
        try:
            await request.body.read()
        except RequestBodyTooLarge:
            raised.append(True)
        else:
            raised.append(False)
    return _json({"raised": raised, "trailers": None if request.trailers is None else list(request.trailers)})


async def _interim_after_disconnect(request: Request, key: str) -> None:
    await request.wait_disconnected()
    try:
        await request.send_interim(103, [(b"link", b"</late.css>; rel=preload")])
    except Exception as error:
        post(key, type(error).__name__)
        raise
    post(key, "returned")


async def _echo_stream(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.body:
        yield chunk


class _Tagged(Response):
    """A Response subclass with an attribute the document does not know (PYRE-VER-4)."""

    conformance_note = "ignore me"


@_checked
async def probe(request: Request) -> Response:
    """The request's server-side attributes and behaviour, one route each.

    ``/report``: scheme, root_path, path, extensions, server_info and disconnected as JSON;
    ``/called?id=ID``: posts ``called`` under ID before reading the body, then counts the calls
    for ID; ``/calls?id=ID``: that count; ``/task?id=ID``: whether the app runs in a Task of its
    own (answered once ID is posted); ``/disconnect?id=ID`` (``&poll=1`` without
    ``wait_disconnected``): ``disconnected`` before and after the client left, posted under ID;
    ``/read-after-disconnect?id=ID``: what reading the body raised once the client left;
    ``/mixed``: the first chunk by iteration, the rest by ``read()``, then ``read()`` again;
    ``/chunks``: the sizes of the chunks iteration yields; ``/read-max?max=N``: whether
    ``read(N)`` raised ``RequestBodyTooLarge``; ``/echo-stream``: the body streamed back as it is
    read; ``/fields``: repeated and ordered fields; ``/server-field``: an app ``server`` field;
    ``/subclass``: a Response subclass; ``/keep-alive``: an app ``connection: keep-alive``;
    ``/past-the-limit``: ``read()`` twice past the server's limit; ``/interim-after-disconnect?id=ID``:
    what ``send_interim`` did once the client left.
    """
    route = request.raw_path
    params = _params(request)
    if route == b"/report":
        return _json(_server_report(request))
    if route == b"/called":
        key = params["id"]
        _calls[key] = _calls.get(key, 0) + 1
        post(key, "called")
        body = await request.body.read()
        return _json({"calls": _calls[key], "body": _latin1(body)})
    if route == b"/calls":
        return _json({"calls": _calls.get(params["id"], 0)})
    if route == b"/task":
        return _text(await _task_report(params["id"]))
    if route == b"/disconnect":
        await _watch_disconnect(request, params["id"], poll="poll" in params)
        return _text("gone")
    if route == b"/read-after-disconnect":
        await _read_after_disconnect(request, params["id"])
        return _text("read")
    if route == b"/mixed":
        return await _mixed_read(request)
    if route == b"/chunks":
        sizes = [len(chunk) async for chunk in request.body]
        return _json({"sizes": sizes})
    if route == b"/read-max":
        return await _read_max(request, int(params["max"]))
    if route == b"/echo-stream":
        return Response(200, [(b"content-type", b"application/octet-stream")], _echo_stream(request))
    if route == b"/fields":
        return Response(
            200,
            [
                (b"x-b", b"1"),
                (b"x-a", b"2"),
                (b"x-b", b"3"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
            ],
            b"fields",
        )
    if route == b"/server-field":
        return Response(200, [(b"server", b"conformance-app")], b"named")
    if route == b"/subclass":
        return _Tagged(200, [], b"subclass")
    if route == b"/keep-alive":
        return Response(200, [(b"connection", b"keep-alive")], b"asked to keep alive")
    if route == b"/past-the-limit":
        return await _past_the_limit(request)
    if route == b"/interim-after-disconnect":
        await _interim_after_disconnect(request, params["id"])
        return _text("gone")
    return _text("unknown probe route", 404)


async def _upgraded(key: str, stream: ByteStream) -> None:
    """Echo until the client closes; post what the stream did at the end."""
    _calls[key] = _calls.get(key, 0) + 1
    while data := await stream.read(65536):
        await stream.write(data)
    again = await stream.read(65536)
    await stream.close()
    await stream.close()
    post(key, f"calls={_calls[key]} eof-again={again == b''}")


async def _write_until_gone(key: str, stream: ByteStream) -> None:
    await stream.write(b"ready")
    while await stream.read(65536):
        pass
    try:
        for _ in range(200):  # two seconds, well inside any client timeout: then report
            await stream.write(b"x" * 65536)
            await asyncio.sleep(0.01)
    except Exception as error:
        post(key, str(error) if isinstance(error, SpecViolation) else type(error).__name__)
        raise
    post(key, "writes never failed")


@_checked
async def upgrade(request: Request) -> Response:
    """Protocol upgrade (answered 501 when the server does not list ``pyre.upgrade``).

    ``/echo?id=ID``: 101 with a body the server must ignore, then echoes the stream until the
    client closes and posts the handler's call count and whether ``read()`` kept returning
    ``b""``; ``/write-after-close?id=ID``: writes ``ready``, then writes until the client has
    gone and posts what ``write()`` raised; ``/with-body?id=ID``: posts the request content under
    ``ID-body``, then echoes as ``/echo`` does.
    """
    if not request.server_info.supports(EXT_UPGRADE):
        return _text("no pyre.upgrade", 501)
    key = _params(request)["id"]
    fields = [(b"upgrade", b"pyre-conformance")]
    if request.raw_path == b"/write-after-close":
        return Response(101, fields, b"", upgrade=lambda stream: _write_until_gone(key, stream))
    if request.raw_path == b"/with-body":
        post(f"{key}-body", _latin1(await request.body.read()))
    return Response(101, fields, b"ignored body", upgrade=lambda stream: _upgraded(key, stream))


async def _echo_session(session: WebSocketSession, key: str, subprotocol: str | None) -> None:
    """Echo every message until the client closes; post what the session did after the close."""
    await session.accept(subprotocol, [(b"x-conformance", b"accepted")])
    while (message := await session.receive()) is not None:
        await session.send(message)
    code, reason = session.close_code, session.close_reason
    try:
        await session.send("too late")
    except ClientDisconnected:
        sent = "ClientDisconnected"
    else:
        sent = "returned"
    again = await session.receive()
    await session.close()
    await session.close()
    post(key, f"code={code} reason={reason} send={sent} again={again!r}")


@_checked
async def websocket(request: Request) -> Response:
    """WebSocket sessions (answered 501 when the server does not list ``pyre.websocket``).

    ``/plain``: whether a request that is no handshake carries a session; ``/echo?id=ID``
    (``&subprotocol=P``): accepts with P and an ``x-conformance`` field, echoes every message,
    and posts under ID the close code and reason, what ``send()`` did after the close and what
    ``receive()`` gave again; ``/refuse``: returns 403 without accepting; ``/other``: returns
    404 without accepting.
    """
    if not request.server_info.supports(EXT_WEBSOCKET):
        return _text("no pyre.websocket", 501)
    session = request.extensions.get(EXT_WEBSOCKET)
    route = request.raw_path
    if route == b"/plain":
        return _json({"offered": session is not None})
    if session is None:
        return _text("a handshake without a session", 500)
    if route == b"/refuse":
        return _text("refused", 403)
    if route == b"/other":
        return _text("no such socket", 404)
    params = _params(request)
    await _echo_session(cast(WebSocketSession, session), params["id"], params.get("subprotocol"))
    return _text("ignored after accept")


async def _never_called(stream: ByteStream) -> None:
    await stream.close()


@_controlled
async def unchecked(request: Request) -> Response:
    """Responses that break the application's side on purpose; the server must catch them.

    ``/app-te`` sets its own ``transfer-encoding``; ``/wrong-length`` a ``content-length``
    that disagrees with its bytes; ``/two-lengths`` two of them; ``/bad-length`` a non-decimal
    one; ``/101`` answers 101 a request that asked for no upgrade; ``/raise-with-trailers`` a
    stream that raises, with trailers that must never be sent; ``/204-with-length`` a 204
    with a ``content-length``; ``/interim-fields?what=W`` calls ``send_interim`` with invalid
    fields and says whether it raised ``ValueError``.
    """
    route = request.raw_path
    if route == b"/app-te":
        return Response(200, [(b"transfer-encoding", b"chunked")], _chunks([b"framed ", b"once"]))
    if route == b"/wrong-length":
        return Response(200, [(b"content-length", b"99")], b"seven b")
    if route == b"/two-lengths":
        return Response(200, [(b"content-length", b"3"), (b"content-length", b"3")], b"two")
    if route == b"/bad-length":
        return Response(200, [(b"content-length", b"0x3")], b"bad")
    if route == b"/101":
        return Response(101, [(b"upgrade", b"pyre-conformance")], b"", upgrade=_never_called)
    if route == b"/raise-with-trailers":  # unchecked: the validator would abort it itself

        async def never() -> list[tuple[bytes, bytes]]:
            return [(b"x-after-error", b"sent")]

        return Response(200, [(b"trailer", b"x-after-error")], _failing_stream(), trailers=never)
    if route == b"/204-with-length":
        return Response(204, [(b"content-length", b"26")], b"")
    if route == b"/interim-fields":
        fields = _INVALID_INTERIM[_params(request)["what"]]
        try:
            await request.send_interim(103, fields)
        except ValueError:
            return _text("ValueError")
        return _text("accepted")
    return _text("unknown route", 404)


_INVALID_INTERIM: dict[str, Any] = {
    "content-length": [(b"content-length", b"0")],
    "transfer-encoding": [(b"transfer-encoding", b"chunked")],
    "connection": [(b"connection", b"close")],
    "crlf-value": [(b"link", b"</a>\r\nset-cookie: injected=1")],
    "uppercase-name": [(b"Link", b"</a>")],
}


# -- inside: what only code in the server sees, and responses the server must refuse --------

_context_probe: contextvars.ContextVar[str] = contextvars.ContextVar("pyre_conformance_probe")
_descriptors: dict[str, tuple[int, tuple[int, int]]] = {}
"""key -> (fd, (st_dev, st_ino)) of a FileBody's descriptor, to tell later whether it was closed."""
_trailer_calls: set[str] = set()
_LARGE_FILE = 64 * 1024 * 1024


def _invalid_response(what: str) -> Response:
    """A response that breaks PYRE-RESP-2 to 5; ``x-app`` fields and ``app-content`` mark what is its."""
    marker = (b"x-app-marker", b"sent")
    bad_headers: dict[str, Any] = {
        "header-value-crlf": [marker, (b"x-app-injected", b"1\r\nset-cookie: injected=1")],
        "header-value-lf": [marker, (b"x-app-injected", b"1\nset-cookie: injected=1")],
        "header-value-nul": [marker, (b"x-app-injected", b"1\x00")],
        "header-name-crlf": [marker, (b"set-cookie: injected=1\r\nx-app-name", b"1")],
        "header-name-uppercase": [marker, (b"X-App-Upper", b"1")],
        "header-name-empty": [marker, (b"", b"1")],
        "header-str": [marker, ("x-app-str", "1")],
        "headers-not-a-sequence": {b"x-app-marker": b"sent"},
    }
    if what in bad_headers:
        return Response(200, bad_headers[what], b"app-content")
    status: Any = {"status-out-of-range": 600, "status-not-int": "200"}[what]
    return Response(status, [marker], b"app-content")


def _file_body(key: str, params: dict[str, str]) -> FileBody:
    """A FileBody of a fresh unlinked file, whose descriptor ``/fd-closed`` can recognise later."""
    fd, path = tempfile.mkstemp(prefix="pyre-conformance-")
    os.unlink(path)
    if params.get("size") == "large":
        os.ftruncate(fd, _LARGE_FILE)
    else:
        os.write(fd, b"descriptor content\n" * 100)
    stat = os.fstat(fd)
    _descriptors[key] = (fd, (stat.st_dev, stat.st_ino))
    offset = _LARGE_FILE * 2 if params.get("offset") == "past-end" else 0
    return FileBody(fd=fd, offset=offset)


async def _descriptor_state(key: str) -> str:
    """``closed`` once the FileBody's descriptor no longer refers to its file (2 s at most)."""
    fd, identity = _descriptors.pop(key)
    for _ in range(200):
        try:
            stat = os.fstat(fd)
        except OSError:
            return "closed"
        if (stat.st_dev, stat.st_ino) != identity:
            return "closed"  # closed, and the number reused
        await asyncio.sleep(0.01)
    os.close(fd)  # the server broke PYRE-RESP-19; do not leak it on its behalf
    return "open"


def _address(value: object) -> list[Any]:
    if isinstance(value, tuple) and len(value) == 2 and type(value[0]) is str and type(value[1]) is int:
        return ["tuple[str, int]", list(value)]
    return [type(value).__name__, repr(value)]


async def _outlive(key: str, request: Request) -> Response:
    """Outlive the client: the awaits after it left must not be cancelled (PYRE-ERR-6)."""
    try:
        post(f"{key}-started", "waiting")
        await request.wait_disconnected()
        for _ in range(3):
            await asyncio.sleep(0.01)
    except asyncio.CancelledError as cancelled:
        post(key, f"cancelled ({cancelled!r})")
        raise
    post(key, "survived")
    return _text("survived")


async def _interim(request: Request, status: int) -> Response:
    try:
        await request.send_interim(status)
    except ValueError:
        return _text("ValueError")
    except Exception as error:
        return _text(f"raised {type(error).__name__}")
    return _text("returned")


def _with_trailers(key: str, params: dict[str, str]) -> Response:
    async def trailers() -> list[tuple[bytes, bytes]]:
        _trailer_calls.add(key)
        return [(b"x-checksum", b"c0ffee")]

    headers = [(b"trailer", b"x-checksum")]
    if "length" in params:
        headers.append((b"content-length", params["length"].encode()))
    body = b"data" if params.get("body") == "bytes" else _chunks([b"da", b"ta"])
    return Response(200, headers, body, trailers=trailers)


@_controlled
async def inside(request: Request) -> Response:
    """What only code running in the server can observe, and responses an app must not return.

    ``/invalid?what=W``: a response breaking PYRE-RESP-2 to 5 (see ``_invalid_response``);
    ``/fd?id=ID`` (``&status=304``, ``&size=large``, ``&offset=past-end``): a FileBody by
    descriptor, and ``/fd-closed?id=ID`` whether that descriptor was closed since;
    ``/context?value=V``: the value of a context variable, then sets it to V; ``/addresses``:
    ``client`` and ``server``; ``/outlive?id=ID``: waits for the client to leave, then posts
    under ID whether its later awaits were cancelled; ``/interim?status=S``: what
    ``send_interim(S)`` did; ``/204-with-length``, ``/304-with-length``: an app content-length
    where there is no content; ``/trailers?id=ID`` (``&length=4``, ``&body=bytes``): a body with
    trailers, and ``/trailers-called?id=ID`` whether they were called; ``/headers-after-body``:
    the header names once the body (and its trailers) has been read.
    """
    route = request.raw_path
    params = _params(request)
    if route == b"/invalid":
        return _invalid_response(params["what"])
    if route == b"/fd":
        return Response(int(params.get("status", "200")), [], _file_body(params["id"], params))
    if route == b"/fd-closed":
        return _text(await _descriptor_state(params["id"]))
    if route == b"/context":
        seen = _context_probe.get(None)
        _context_probe.set(params["value"])
        return _json({"seen": seen})
    if route == b"/addresses":
        return _json({"client": _address(request.client), "server": _address(request.server)})
    if route == b"/outlive":
        return await _outlive(params["id"], request)
    if route == b"/interim":
        return await _interim(request, int(params["status"]))
    if route == b"/204-with-length":
        return Response(204, [(b"content-length", b"0")], b"")
    if route == b"/304-with-length":
        return Response(304, [(b"etag", b'"v1"'), (b"content-length", b"13")], b"")
    if route == b"/trailers":
        return _with_trailers(params["id"], params)
    if route == b"/headers-after-body":
        await request.body.read()
        return _json([_latin1(name) for name, _ in request.headers.raw])
    if route == b"/trailers-called":
        return _text("called" if params["id"] in _trailer_calls else "not called")
    return _text("unknown route", 404)


def import_path(app: Application) -> str:
    """``"module:name"`` for one of this module's apps, for servers that load apps by name."""
    for name, value in globals().items():
        if value is app and not name.startswith("_"):
            return f"{__name__}:{name}"
    raise ValueError(f"{app!r} is not one of the conformance apps")
