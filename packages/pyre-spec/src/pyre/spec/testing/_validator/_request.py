"""Checks of the request a server hands in, and of its body (spec sections 3 to 5)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, MutableMapping, Sequence
from typing import Final, cast

from ..._headers import Headers, RawHeaders
from ..._paths import decode_path
from ..._request import Body, Request, State
from ..._syntax import is_field_value, is_token
from ..._version import ServerInfo
from ..._wrapper import RequestWrapper
from ._response import check_response_fields
from ._violation import SpecViolation, is_byte_pair

_SPEC_VERSION: Final = re.compile(r"[0-9]+\.[0-9]+")


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


def check_request(
    request: Request, lifespan_state: State | None, lifespan_info: ServerInfo | None
) -> CheckedRequest:
    """Check ``request`` and wrap it to watch its body and 1xx; ``lifespan_state`` and
    ``lifespan_info`` are what lifespan was given, for an application with one (else ``None``)."""
    method = _attribute(request, "method")
    _expect_type(method, str, "PYRE-REQ-2", "method")
    assert isinstance(method, str)
    if not is_token(method):
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
    if path != decode_path(raw_path):
        raise SpecViolation("PYRE-REQ-5", f"path {path!r} is not the decoded raw_path {raw_path!r}")
    if query != expected_query:
        raise SpecViolation("PYRE-REQ-6", f"query {query!r} is not {expected_query!r} for target {target!r}")

    http_version = _attribute(request, "http_version")
    if http_version not in ("1.0", "1.1", "2"):  # "2": HTTP/2, spec section 1.6
        raise SpecViolation("PYRE-REQ-7", f"http_version is {http_version!r}, not '1.0', '1.1' or '2'")
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
    body = _attribute(request, "body")
    for member in ("length", "read", "__aiter__"):
        if not hasattr(body, member):
            raise SpecViolation("PYRE-REQ-1", f"the request body has no {member!r}")
    length = getattr(body, "length")  # noqa: B009  (body is still an unchecked object)
    _check_length(length, headers)
    trailers = _attribute(request, "trailers")
    # Content of length 0 is consumed to its end from the start: trailers may be empty Headers (PYRE-HDR-9).
    if trailers is not None and not (length == 0 and isinstance(trailers, Headers) and not trailers.raw):
        raise SpecViolation("PYRE-HDR-7", "trailers is set before the app consumed the body")

    for name in ("client", "server"):
        address = _attribute(request, name)
        if address is not None and not _is_address(address):
            raise SpecViolation("PYRE-REQ-11", f"{name} is {address!r}, not a (str, int) pair or None")
    _expect_type(_attribute(request, "root_path"), str, "PYRE-REQ-12", "root_path")

    state = _attribute(request, "state")
    _expect_type(state, MutableMapping, "PYRE-REQ-13", "state")
    if lifespan_state is not None and state is not lifespan_state:
        raise SpecViolation("PYRE-REQ-13", "state is not the mapping the server gave to lifespan")
    server_info = _attribute(request, "server_info")
    if not isinstance(server_info, ServerInfo):
        raise SpecViolation("PYRE-REQ-15", f"server_info is {server_info!r}, not a pyre.spec.ServerInfo")
    if lifespan_info is not None and server_info is not lifespan_info:
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
    return CheckedRequest(request, headers, CheckedBody(request, cast(Body, body)))


def _check_request_fields(fields: Headers, section: str) -> None:
    raw: object = fields.raw
    if not isinstance(raw, Sequence):
        raise SpecViolation("PYRE-HDR-1", f"the {section} section's raw is {raw!r}, not a sequence")
    for line in raw:
        if not is_byte_pair(line):
            raise SpecViolation("PYRE-HDR-1", f"{section} field line {line!r} is not a (bytes, bytes) pair")
        name, value = line
        if not is_token(name):
            raise SpecViolation("PYRE-HDR-5", f"{section} field name {name!r} is not a token")
        if not is_field_value(value):
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


class CheckedRequest(RequestWrapper):
    """The request as the application sees it: the server's, with its body and 1xx watched."""

    def __init__(self, request: Request, headers: Headers, body: CheckedBody) -> None:
        super().__init__(request)
        self._headers = headers
        self._body = body
        self.app_returned = False

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def body(self) -> Body:
        return self._body

    @property
    def disconnected(self) -> bool:
        value: object = self.wrapped.disconnected
        if not isinstance(value, bool):
            raise SpecViolation("PYRE-REQ-16", f"disconnected is {value!r}, not a bool")
        return value

    async def wait_disconnected(self) -> None:
        await self.wrapped.wait_disconnected()
        if self.wrapped.disconnected is not True:
            raise SpecViolation("PYRE-REQ-17", "wait_disconnected() returned while disconnected is False")

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        if self.app_returned:
            raise SpecViolation("PYRE-REQ-20", f"send_interim({status}) was called after the final response")
        check_response_fields(headers, "interim header")
        code: object = status
        valid = isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 199 and code != 101
        try:
            await self.wrapped.send_interim(status, headers)
        except ValueError:
            if valid:
                raise SpecViolation(
                    "PYRE-REQ-19", f"send_interim rejected the valid status {status}"
                ) from None
            raise
        if not valid:
            raise SpecViolation("PYRE-REQ-19", f"send_interim accepted status {status!r} without ValueError")

    def __repr__(self) -> str:
        return f"<validated {self.wrapped!r}>"


class CheckedBody:
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
