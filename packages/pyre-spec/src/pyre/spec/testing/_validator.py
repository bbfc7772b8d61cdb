"""The validator: checks both sides of the interface at run time (spec section 12.2).

``validate(app)`` returns an application that checks the request a server hands
in and the response the wrapped application returns, as ``wsgiref.validate``
and Rack::Lint do.  A broken requirement raises ``SpecViolation`` whose message
starts with the assertion ID of the spec, for example
``PYRE-RESP-4: header name b'X-A' is not lowercase``.

The checks cost a few attribute loads and one pass over the fields per
request; the application's own objects are passed through untouched whenever
nothing needs watching (a ``bytes`` or ``FileBody`` response without trailers).

Identity checks across requests (``state`` and ``server_info`` are the very
objects given to lifespan) are made only for applications with a lifespan, whose
startup marks the beginning of one server run.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import cast
from urllib.parse import unquote_to_bytes

from .._application import Application, HasLifespan
from .._headers import Headers, RawHeaders
from .._request import Address, Body, Request, State
from .._response import FileBody, Response, Trailers, UpgradeHandler
from .._upgrade import ByteStream
from .._version import EXT_UPGRADE, ServerInfo

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LOWER_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_BAD_VALUE_OCTET = re.compile(rb"[\r\n\x00]")
_SPEC_VERSION = re.compile(r"[0-9]+\.[0-9]+")
_DIGITS = re.compile(rb"[0-9]+")
# RFC 9110 section 6.5.1: fields that must not be sent as trailers.
_NOT_TRAILERS = frozenset({b"content-length", b"transfer-encoding", b"trailer"})
_BODYLESS_STATUSES = frozenset({204, 304})


class SpecViolation(AssertionError):
    """A requirement of pyre-spec was broken; ``assertion`` is its ID."""

    def __init__(self, assertion: str, message: str) -> None:
        super().__init__(f"{assertion}: {message}")
        self.assertion = assertion


def validate(app: Application) -> Application:
    """Wrap ``app`` so that every call checks the server's request and the app's response.

    The result has a ``lifespan`` exactly when ``app`` has one.
    """
    if isinstance(app, HasLifespan):
        return _ValidatedLifespanApp(app, app)
    return _ValidatedApp(app)


class _Run:
    """What the validator knows about the current server run of one application."""

    __slots__ = ("phase", "state", "server_info", "active")

    def __init__(self) -> None:
        self.phase = "idle"
        self.state: State | None = None
        self.server_info: ServerInfo | None = None
        self.active = 0


class _ValidatedApp:
    _has_lifespan = False

    def __init__(self, app: Application) -> None:
        self._app = app
        self._run = _Run()

    async def __call__(self, request: Request, /) -> Response:
        run = self._run
        if self._has_lifespan:
            if run.phase in ("idle", "starting"):
                raise SpecViolation(
                    "PYRE-LIFE-3", "the application was called before lifespan startup finished"
                )
            if run.phase in ("stopping", "stopped"):
                raise SpecViolation("PYRE-LIFE-4", "the application was called after lifespan shutdown began")
        _check_task("the application")
        checked = _check_request(request, run)
        awaitable = self._app(checked)
        if not hasattr(awaitable, "__await__"):
            raise SpecViolation("PYRE-APP-1", f"the application returned {awaitable!r}, not an awaitable")
        run.active += 1
        try:
            response = await awaitable
        finally:
            run.active -= 1
            checked.app_returned = True
        return _check_response(response, checked)


class _ValidatedLifespanApp(_ValidatedApp):
    _has_lifespan = True

    def __init__(self, app: Application, lifespan_app: HasLifespan) -> None:
        super().__init__(app)
        self._lifespan_app = lifespan_app

    def lifespan(self, server: ServerInfo, state: State, /) -> AbstractAsyncContextManager[None]:
        run = self._run
        if run.phase in ("starting", "running", "stopping"):
            raise SpecViolation("PYRE-LIFE-3", "lifespan was called again while a lifespan is active")
        server_object: object = server
        if not isinstance(server_object, ServerInfo):
            raise SpecViolation("PYRE-LIFE-3", f"lifespan was given {server_object!r}, not a ServerInfo")
        state_object: object = state
        if not isinstance(state_object, MutableMapping) or len(state_object) != 0:
            raise SpecViolation("PYRE-LIFE-3", f"lifespan was given {state_object!r}, not a new empty dict")
        manager: object = self._lifespan_app.lifespan(server, state)
        if not (hasattr(manager, "__aenter__") and hasattr(manager, "__aexit__")):
            raise SpecViolation("PYRE-LIFE-2", f"lifespan returned {manager!r}, not an async context manager")
        self._run = run = _Run()
        run.state = state
        run.server_info = server
        return _CheckedLifespan(manager, run)


class _CheckedLifespan:
    def __init__(self, manager: AbstractAsyncContextManager[object], run: _Run) -> None:
        self._manager = manager
        self._run = run
        self._task: asyncio.Task[object] | None = None

    async def __aenter__(self) -> None:
        self._run.phase = "starting"
        self._task = asyncio.current_task()
        try:
            await self._manager.__aenter__()
        except BaseException:
            self._run.phase = "stopped"  # a failed startup ends the run; a new one may begin
            raise
        self._run.phase = "running"

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        run = self._run
        violation = None
        if asyncio.current_task() is not self._task:
            violation = SpecViolation(
                "PYRE-LIFE-5", "lifespan was exited in another task than it was entered in"
            )
        elif run.active:
            violation = SpecViolation(
                "PYRE-LIFE-4", f"lifespan shutdown began with {run.active} request(s) running"
            )
        run.phase = "stopping"
        try:
            suppress = await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            run.phase = "stopped"
        if violation is not None:
            raise violation
        return suppress


def _check_task(what: str) -> None:
    if asyncio.current_task() is None:
        raise SpecViolation("PYRE-APP-5", f"{what} runs outside any asyncio Task")


# ---------------------------------------------------------------- the request (sections 3 to 5)


def _attribute(request: Request, name: str) -> object:
    try:
        value: object = getattr(request, name)
    except AttributeError:
        raise SpecViolation("PYRE-REQ-1", f"the request has no attribute {name!r}") from None
    return value


def _expect_type(value: object, kind: type | tuple[type, ...], assertion: str, what: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SpecViolation(assertion, f"{what} is {value!r}, of the wrong type")


def _target_parts(method: str, target: bytes) -> tuple[bytes, bytes, str | None]:
    """``raw_path``, ``query`` and the target's own authority, by request-target form (section 3.2)."""
    if target.startswith(b"/"):
        raw_path, _, query = target.partition(b"?")
        return raw_path, query, None
    if target == b"*":
        return b"*", b"", None
    if method == "CONNECT":
        return b"", b"", target.decode("latin-1")
    _, _, rest = target.partition(b"://")
    end = len(rest)
    for delimiter in (b"/", b"?"):
        found = rest.find(delimiter)
        if found != -1:
            end = min(end, found)
    raw_path, _, query = rest[end:].partition(b"?")
    return raw_path or b"/", query, rest[:end].decode("latin-1")


def _check_request(request: Request, run: _Run) -> _CheckedRequest:
    method = _attribute(request, "method")
    _expect_type(method, str, "PYRE-REQ-2", "method")
    assert isinstance(method, str)
    if not _TOKEN.fullmatch(method):
        raise SpecViolation("PYRE-REQ-2", f"method {method!r} is not a token")
    target = _attribute(request, "target")
    _expect_type(target, bytes, "PYRE-REQ-3", "target")
    assert isinstance(target, bytes)
    raw_path = _attribute(request, "raw_path")
    path = _attribute(request, "path")
    query = _attribute(request, "query")
    _expect_type(raw_path, bytes, "PYRE-REQ-4", "raw_path")
    _expect_type(path, str, "PYRE-REQ-5", "path")
    _expect_type(query, bytes, "PYRE-REQ-6", "query")
    assert isinstance(raw_path, bytes)
    expected_path, expected_query, target_authority = _target_parts(method, target)
    if raw_path != expected_path:
        raise SpecViolation(
            "PYRE-REQ-4", f"raw_path {raw_path!r} is not {expected_path!r} for target {target!r}"
        )
    if path != unquote_to_bytes(raw_path).decode("utf-8", "replace"):
        raise SpecViolation("PYRE-REQ-5", f"path {path!r} is not the decoded raw_path {raw_path!r}")
    if query != expected_query:
        raise SpecViolation("PYRE-REQ-6", f"query {query!r} is not {expected_query!r} for target {target!r}")

    http_version = _attribute(request, "http_version")
    if http_version not in ("1.0", "1.1"):
        raise SpecViolation("PYRE-REQ-7", f"http_version is {http_version!r}, not '1.0' or '1.1'")
    scheme = _attribute(request, "scheme")
    if scheme not in ("http", "https"):
        raise SpecViolation("PYRE-REQ-8", f"scheme is {scheme!r}, not 'http' or 'https'")

    headers = _attribute(request, "headers")
    if not isinstance(headers, Headers):
        raise SpecViolation("PYRE-HDR-1", f"headers is {headers!r}, not a pyre.spec.Headers")
    _check_request_fields(headers, "header")
    hosts = headers.get_all("host")
    if http_version == "1.1" and len(hosts) != 1:
        raise SpecViolation(
            "PYRE-REQ-10", f"an HTTP/1.1 request reached the app with {len(hosts)} Host fields"
        )
    authority = _attribute(request, "authority")
    expected_authority = target_authority if target_authority is not None else (hosts[0] if hosts else None)
    if authority != expected_authority:
        raise SpecViolation("PYRE-REQ-9", f"authority is {authority!r}, not {expected_authority!r}")
    trailers = _attribute(request, "trailers")
    if trailers is not None:
        raise SpecViolation("PYRE-HDR-7", "trailers is set before the app consumed the body")

    body = _attribute(request, "body")
    for member in ("length", "read", "__aiter__"):
        if not hasattr(body, member):
            raise SpecViolation("PYRE-REQ-1", f"the request body has no {member!r}")
    _check_length(getattr(body, "length"), headers)  # noqa: B009  (body is still an unchecked object)

    for name in ("client", "server"):
        address = _attribute(request, name)
        if address is not None and not _is_address(address):
            raise SpecViolation("PYRE-REQ-11", f"{name} is {address!r}, not a (str, int) pair or None")
    _expect_type(_attribute(request, "root_path"), str, "PYRE-REQ-12", "root_path")

    state = _attribute(request, "state")
    _expect_type(state, MutableMapping, "PYRE-REQ-13", "state")
    if run.state is not None and state is not run.state:
        raise SpecViolation("PYRE-REQ-13", "state is not the mapping the server gave to lifespan")
    server_info = _attribute(request, "server_info")
    if not isinstance(server_info, ServerInfo):
        raise SpecViolation("PYRE-REQ-15", f"server_info is {server_info!r}, not a pyre.spec.ServerInfo")
    if run.server_info is not None and server_info is not run.server_info:
        raise SpecViolation("PYRE-REQ-15", "server_info is not the ServerInfo the server gave to lifespan")
    _check_server_info(server_info)
    extensions = _attribute(request, "extensions")
    if not isinstance(extensions, Mapping):
        raise SpecViolation("PYRE-REQ-14", f"extensions is {extensions!r}, not a Mapping")
    for key in extensions:
        if key not in server_info.extensions:
            raise SpecViolation("PYRE-REQ-14", f"extensions has key {key!r}, which the server does not list")

    _expect_type(_attribute(request, "disconnected"), bool, "PYRE-REQ-16", "disconnected")
    for name in ("wait_disconnected", "send_interim"):
        if not callable(_attribute(request, name)):
            raise SpecViolation("PYRE-REQ-1", f"request.{name} is not callable")
    return _CheckedRequest(request, headers, _CheckedBody(request, cast(Body, body)))


def _check_request_fields(fields: Headers, section: str) -> None:
    raw: object = fields.raw
    if not isinstance(raw, Sequence):
        raise SpecViolation("PYRE-HDR-1", f"the {section} section's raw is {raw!r}, not a sequence")
    for line in raw:
        if not (isinstance(line, tuple) and len(line) == 2 and all(isinstance(part, bytes) for part in line)):
            raise SpecViolation("PYRE-HDR-1", f"{section} field line {line!r} is not a (bytes, bytes) pair")
        name, value = line
        if not _FIELD_NAME.fullmatch(name):
            raise SpecViolation("PYRE-HDR-5", f"{section} field name {name!r} is not a token")
        if _BAD_VALUE_OCTET.search(value):
            raise SpecViolation("PYRE-HDR-5", f"{section} field {name!r} has CR, LF or NUL in its value")
        if value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t"):
            raise SpecViolation(
                "PYRE-HDR-2", f"{section} field {name!r} value {value!r} keeps its whitespace"
            )


def _check_length(length: object, headers: Headers) -> None:
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 0):
        raise SpecViolation("PYRE-BODY-2", f"body.length is {length!r}, not a non-negative int or None")
    declared = headers.get("content-length")
    if "transfer-encoding" in headers:
        if length is not None:
            raise SpecViolation("PYRE-BODY-2", f"body.length is {length!r} for chunked content, not None")
    elif declared is not None and declared.isdigit() and length != int(declared):
        raise SpecViolation("PYRE-BODY-2", f"body.length is {length!r} but Content-Length is {declared}")


def _is_address(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _check_server_info(server_info: ServerInfo) -> None:
    version: object = server_info.spec_version
    if not isinstance(version, str) or not _SPEC_VERSION.fullmatch(version):
        raise SpecViolation("PYRE-VER-1", f"spec_version is {version!r}, not 'MAJOR.MINOR'")
    extensions: object = server_info.extensions
    if not isinstance(extensions, frozenset) or not all(isinstance(name, str) for name in extensions):
        raise SpecViolation("PYRE-VER-2", f"extensions is {extensions!r}, not a frozenset of names")


class _CheckedRequest:
    """The request as the application sees it: the server's, with its body and 1xx watched."""

    def __init__(self, request: Request, headers: Headers, body: _CheckedBody) -> None:
        self._request = request
        self._headers = headers
        self._body = body
        self.app_returned = False

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def target(self) -> bytes:
        return self._request.target

    @property
    def path(self) -> str:
        return self._request.path

    @property
    def raw_path(self) -> bytes:
        return self._request.raw_path

    @property
    def query(self) -> bytes:
        return self._request.query

    @property
    def http_version(self) -> str:
        return self._request.http_version

    @property
    def scheme(self) -> str:
        return self._request.scheme

    @property
    def authority(self) -> str | None:
        return self._request.authority

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def trailers(self) -> Headers | None:
        return self._request.trailers

    @property
    def body(self) -> Body:
        return self._body

    @property
    def client(self) -> Address | None:
        return self._request.client

    @property
    def server(self) -> Address | None:
        return self._request.server

    @property
    def root_path(self) -> str:
        return self._request.root_path

    @property
    def state(self) -> State:
        return self._request.state

    @property
    def extensions(self) -> Mapping[str, object]:
        return self._request.extensions

    @property
    def server_info(self) -> ServerInfo:
        return self._request.server_info

    @property
    def disconnected(self) -> bool:
        value: object = self._request.disconnected
        if not isinstance(value, bool):
            raise SpecViolation("PYRE-REQ-16", f"disconnected is {value!r}, not a bool")
        return value

    async def wait_disconnected(self) -> None:
        await self._request.wait_disconnected()
        if self._request.disconnected is not True:
            raise SpecViolation("PYRE-REQ-17", "wait_disconnected() returned while disconnected is False")

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        if self.app_returned:
            raise SpecViolation("PYRE-REQ-20", f"send_interim({status}) was called after the final response")
        _check_response_fields(headers, "interim header")
        code: object = status
        valid = isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 199 and code != 101
        try:
            await self._request.send_interim(status, headers)
        except ValueError:
            if valid:
                raise SpecViolation(
                    "PYRE-REQ-19", f"send_interim rejected the valid status {status}"
                ) from None
            raise
        if not valid:
            raise SpecViolation("PYRE-REQ-19", f"send_interim accepted status {status!r} without ValueError")

    def __repr__(self) -> str:
        return f"<validated {self._request!r}>"


class _CheckedBody:
    """The request body, checked to behave as a single-pass stream (section 5)."""

    def __init__(self, request: Request, body: Body) -> None:
        self._request = request
        self._body = body
        self._received = 0
        self._ended = False

    @property
    def length(self) -> int | None:
        return self._body.length

    async def read(self, max_size: int | None = None) -> bytes:
        try:
            content: object = await self._body.read(max_size)
        except OSError as error:
            raise SpecViolation(
                "PYRE-ERR-3", f"body.read() raised {error!r}, not ClientDisconnected"
            ) from error
        if not isinstance(content, bytes):
            raise SpecViolation("PYRE-BODY-3", f"body.read() returned {content!r}, not bytes")
        if max_size is not None and len(content) > max_size:
            raise SpecViolation(
                "PYRE-BODY-6", f"body.read({max_size}) returned {len(content)} bytes instead of raising"
            )
        if self._ended and content:
            raise SpecViolation("PYRE-BODY-3", "body.read() returned content after the end of the body")
        self._received += len(content)
        self._end()
        return content

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        ended = self._ended
        try:
            async for chunk in self._body:
                if not isinstance(chunk, bytes) or not chunk:
                    raise SpecViolation(
                        "PYRE-BODY-4", f"body iteration yielded {chunk!r}, not non-empty bytes"
                    )
                if ended:
                    raise SpecViolation(
                        "PYRE-BODY-4", "body iteration yielded content after the end of the body"
                    )
                self._received += len(chunk)
                yield chunk
        except OSError as error:
            raise SpecViolation(
                "PYRE-ERR-3", f"body iteration raised {error!r}, not ClientDisconnected"
            ) from error
        self._end()

    def _end(self) -> None:
        self._ended = True
        length = self._body.length
        if length is not None and self._received != length:
            raise SpecViolation(
                "PYRE-BODY-2", f"the body delivered {self._received} bytes, not length={length}"
            )
        trailers: object = self._request.trailers
        if not isinstance(trailers, Headers):
            raise SpecViolation("PYRE-HDR-7", f"trailers is {trailers!r} after the body ended, not Headers")
        _check_request_fields(trailers, "trailer")


# ---------------------------------------------------------------- the response (sections 6 and 9)


def _check_response_fields(fields: object, what: str) -> None:
    """Check raw fields an application sends; ``what`` is ``"header"`` or ``"interim header"``."""
    if not isinstance(fields, Sequence) or isinstance(fields, (bytes, str)):
        raise SpecViolation("PYRE-RESP-3", f"{what}s {fields!r} are not a sequence of pairs")
    for line in fields:
        if not (isinstance(line, tuple) and len(line) == 2 and all(isinstance(part, bytes) for part in line)):
            raise SpecViolation("PYRE-RESP-3", f"{what} {line!r} is not a (bytes, bytes) tuple")
        name, value = line
        if not _LOWER_FIELD_NAME.fullmatch(name):
            problem = "is not lowercase" if _LOWER_FIELD_NAME.fullmatch(name.lower()) else "is not a token"
            raise SpecViolation("PYRE-RESP-4", f"{what} name {name!r} {problem}")
        if _BAD_VALUE_OCTET.search(value):
            raise SpecViolation("PYRE-RESP-5", f"{what} {name!r} has CR, LF or NUL in its value")


def _check_response(response: object, request: _CheckedRequest) -> Response:
    if not isinstance(response, Response):
        raise SpecViolation("PYRE-RESP-1", f"the application returned {response!r}, not a pyre.spec.Response")
    status: object = response.status
    upgrade: object = response.upgrade
    if not isinstance(status, int) or isinstance(status, bool) or not (200 <= status <= 599 or status == 101):
        raise SpecViolation("PYRE-RESP-2", f"status {status!r} is not an int from 200 to 599 or 101")
    if (status == 101) != (upgrade is not None):
        raise SpecViolation("PYRE-UPG-1", f"status {status} with upgrade={upgrade!r}")
    headers: object = response.headers
    _check_response_fields(headers, "header")
    assert isinstance(headers, Sequence)
    lengths = [value for name, value in headers if name == b"content-length"]
    if any(name == b"transfer-encoding" for name, _ in headers):
        raise SpecViolation("PYRE-FRAME-5", "the response sets transfer-encoding")
    if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(lengths[0])):
        raise SpecViolation("PYRE-FRAME-2", f"content-length {lengths!r} is not one decimal number")
    declared = int(lengths[0]) if lengths and request.method != "HEAD" and status != 304 else None

    body: object = response.body
    stream: AsyncIterable[bytes] | None = None
    if isinstance(body, bytes):
        if declared is not None and declared != len(body):
            raise SpecViolation(
                "PYRE-FRAME-2", f"content-length {declared} but the body has {len(body)} bytes"
            )
    elif isinstance(body, FileBody):
        _check_file_body(body, declared)
    elif hasattr(body, "__aiter__") and not isinstance(body, (str, bytearray, memoryview)):
        stream = body
    else:
        raise SpecViolation("PYRE-RESP-10", f"body {body!r} is not bytes, FileBody or an async iterable")

    trailers: object = response.trailers
    if trailers is not None and not callable(trailers):
        raise SpecViolation("PYRE-RESP-14", f"trailers {trailers!r} is not callable")
    if upgrade is not None:
        if not callable(upgrade):
            raise SpecViolation("PYRE-UPG-1", f"upgrade {upgrade!r} is not callable")
        _check_upgrade_request(request, headers)
    if stream is None and trailers is None and upgrade is None:
        return response

    progress = _Progress(stream is None)
    checked = copy.copy(response)
    if stream is not None:
        checked.body = _checked_stream(stream, declared, progress)
    if response.trailers is not None:
        checked.trailers = _checked_trailers(response.trailers, progress)
    if response.upgrade is not None:
        checked.upgrade = _checked_upgrade(response.upgrade)
    return checked


def _check_file_body(body: FileBody, declared: int | None) -> None:
    path: object = body.path
    fd: object = body.fd
    offset: object = body.offset
    count: object = body.count
    if (path is None) == (fd is None):
        raise SpecViolation("PYRE-RESP-17", "FileBody has both or neither of path and fd")
    if (
        not isinstance(offset, int)
        or offset < 0
        or (count is not None and (not isinstance(count, int) or count < 0))
    ):
        raise SpecViolation("PYRE-RESP-17", f"FileBody offset {offset!r} / count {count!r} is not >= 0")
    if declared is None:
        return
    if count is None:
        try:
            size = os.stat(body.path if body.path is not None else body.fd or 0).st_size
        except OSError:
            return  # the server reports an unopenable file (PYRE-RESP-18)
        count = max(size - offset, 0)
    if declared != count:
        raise SpecViolation(
            "PYRE-FRAME-2", f"content-length {declared} but the file region has {count} bytes"
        )


def _check_upgrade_request(request: _CheckedRequest, headers: Sequence[tuple[bytes, bytes]]) -> None:
    options = {
        option.strip().lower()
        for value in request.headers.get_all("connection")
        for option in value.split(",")
    }
    if request.http_version != "1.1" or "upgrade" not in request.headers or "upgrade" not in options:
        raise SpecViolation("PYRE-UPG-2", "101 answers a request without Upgrade and Connection: upgrade")
    if not request.server_info.supports(EXT_UPGRADE):
        raise SpecViolation("PYRE-UPG-2", f"101 on a server that does not list {EXT_UPGRADE!r}")
    if not any(name == b"upgrade" for name, _ in headers):
        raise SpecViolation("PYRE-UPG-2", "the 101 response has no upgrade header field")


class _Progress:
    __slots__ = ("content_done", "trailers_called")

    def __init__(self, content_done: bool) -> None:
        self.content_done = content_done
        self.trailers_called = False


async def _checked_stream(
    stream: AsyncIterable[bytes], declared: int | None, progress: _Progress
) -> AsyncIterator[bytes]:
    _check_task("the response body")
    iterator = aiter(stream)
    sent = 0
    try:
        while True:
            try:
                chunk: object = await anext(iterator)
            except StopAsyncIteration:
                break
            if not isinstance(chunk, bytes):
                raise SpecViolation("PYRE-RESP-11", f"the response body yielded {chunk!r}, not bytes")
            sent += len(chunk)
            yield chunk
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
    if declared is not None and sent != declared:
        raise SpecViolation("PYRE-FRAME-2", f"content-length {declared} but the body yielded {sent} bytes")
    progress.content_done = True


def _checked_trailers(trailers: Trailers, progress: _Progress) -> Trailers:
    async def checked() -> RawHeaders:
        _check_task("the trailers callable")
        if progress.trailers_called:
            raise SpecViolation("PYRE-RESP-15", "the server called trailers more than once")
        if not progress.content_done:
            raise SpecViolation("PYRE-RESP-15", "the server called trailers before the last chunk")
        progress.trailers_called = True
        fields: object = await trailers()
        if not isinstance(fields, Sequence) or isinstance(fields, (bytes, str)):
            raise SpecViolation("PYRE-RESP-14", f"trailers returned {fields!r}, not a sequence of pairs")
        for line in fields:
            if not (isinstance(line, tuple) and len(line) == 2 and all(isinstance(p, bytes) for p in line)):
                raise SpecViolation("PYRE-RESP-14", f"trailer {line!r} is not a (bytes, bytes) tuple")
            name, value = line
            if not _LOWER_FIELD_NAME.fullmatch(name) or _BAD_VALUE_OCTET.search(value):
                raise SpecViolation("PYRE-RESP-14", f"trailer {name!r}: {value!r} is not a valid field")
            if name in _NOT_TRAILERS:
                raise SpecViolation("PYRE-RESP-14", f"trailer {name!r} is not allowed in a trailer section")
        return fields

    return checked


def _checked_upgrade(handler: UpgradeHandler) -> UpgradeHandler:
    async def checked(stream: ByteStream) -> None:
        _check_task("the upgrade handler")
        for member in ("read", "write", "close"):
            if not callable(getattr(stream, member, None)):
                raise SpecViolation("PYRE-UPG-4", f"the upgrade stream has no {member}()")
        watched = _CheckedStream(stream)
        try:
            await handler(watched)
        finally:
            watched.finished = True

    return checked


class _CheckedStream:
    """The upgraded connection, checked from both sides (section 9.3)."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._eof = False
        self.finished = False

    def _check_open(self, operation: str) -> None:
        if self.finished:
            raise SpecViolation(
                "PYRE-UPG-8", f"the upgrade handler used stream.{operation}() after returning"
            )

    async def read(self, max_bytes: int = 65536) -> bytes:
        self._check_open("read")
        try:
            data: object = await self._stream.read(max_bytes)
        except OSError as error:
            raise SpecViolation("PYRE-ERR-3", f"stream.read() raised {error!r}") from error
        if not isinstance(data, bytes) or len(data) > max_bytes:
            raise SpecViolation("PYRE-UPG-5", f"stream.read({max_bytes}) returned {data!r:.80}")
        if self._eof and data:
            raise SpecViolation("PYRE-UPG-5", "stream.read() returned data after it returned b''")
        self._eof = not data
        return data

    async def write(self, data: bytes) -> None:
        self._check_open("write")
        if not isinstance(data, bytes):
            raise SpecViolation("PYRE-UPG-8", f"stream.write() was given {type(data).__name__}, not bytes")
        try:
            await self._stream.write(data)
        except OSError as error:
            raise SpecViolation(
                "PYRE-ERR-3", f"stream.write() raised {error!r}, not ClientDisconnected"
            ) from error

    async def close(self) -> None:
        await self._stream.close()
