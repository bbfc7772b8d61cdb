"""Checks of the response an application returns: fields, content, trailers, upgrade (sections 6 and 9)."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Final

from ..._headers import RawHeaders
from ..._request import Request
from ..._response import FileBody, Response, Trailers, UpgradeHandler
from ..._syntax import is_field_value, is_lowercase_token, is_token
from ..._upgrade import ByteStream
from ..._version import EXT_UPGRADE
from ._violation import SpecViolation, check_task, is_byte_pair

_DIGITS: Final = re.compile(rb"[0-9]+")
# RFC 9110 section 6.5.1: fields that must not be sent as trailers.
_NOT_TRAILERS: Final = frozenset({b"content-length", b"transfer-encoding", b"trailer"})


def check_response_fields(fields: object, what: str) -> None:
    """Check raw fields an application sends; ``what`` is ``"header"`` or ``"interim header"``."""
    if not isinstance(fields, Sequence) or isinstance(fields, (bytes, str)):
        raise SpecViolation("PYRE-RESP-3", f"{what}s {fields!r} are not a sequence of pairs")
    for line in fields:
        if not is_byte_pair(line):
            raise SpecViolation("PYRE-RESP-3", f"{what} {line!r} is not a (bytes, bytes) tuple")
        name, value = line
        if not is_lowercase_token(name):
            problem = "is not lowercase" if is_token(name) else "is not a token"
            raise SpecViolation("PYRE-RESP-4", f"{what} name {name!r} {problem}")
        if not is_field_value(value):
            raise SpecViolation("PYRE-RESP-5", f"{what} {name!r} has CR, LF or NUL in its value")


def check_response(response: object, request: Request) -> Response:
    if not isinstance(response, Response):
        raise SpecViolation("PYRE-RESP-1", f"the application returned {response!r}, not a pyre.spec.Response")
    status: object = response.status
    upgrade: object = response.upgrade
    if not isinstance(status, int) or isinstance(status, bool) or not (200 <= status <= 599 or status == 101):
        raise SpecViolation("PYRE-RESP-2", f"status {status!r} is not an int from 200 to 599 or 101")
    if (status == 101) != (upgrade is not None):
        raise SpecViolation("PYRE-UPG-1", f"status {status} with upgrade={upgrade!r}")
    headers: object = response.headers
    check_response_fields(headers, "header")
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


def _check_upgrade_request(request: Request, headers: Sequence[tuple[bytes, bytes]]) -> None:
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
    check_task("the response body")
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
        check_task("the trailers callable")
        if progress.trailers_called:
            raise SpecViolation("PYRE-RESP-15", "the server called trailers more than once")
        if not progress.content_done:
            raise SpecViolation("PYRE-RESP-15", "the server called trailers before the last chunk")
        progress.trailers_called = True
        fields: object = await trailers()
        if not isinstance(fields, Sequence) or isinstance(fields, (bytes, str)):
            raise SpecViolation("PYRE-RESP-14", f"trailers returned {fields!r}, not a sequence of pairs")
        for line in fields:
            if not is_byte_pair(line):
                raise SpecViolation("PYRE-RESP-14", f"trailer {line!r} is not a (bytes, bytes) tuple")
            name, value = line
            if not is_lowercase_token(name) or not is_field_value(value):
                raise SpecViolation("PYRE-RESP-14", f"trailer {name!r}: {value!r} is not a valid field")
            if name in _NOT_TRAILERS:
                raise SpecViolation("PYRE-RESP-14", f"trailer {name!r} is not allowed in a trailer section")
        return fields

    return checked


def _checked_upgrade(handler: UpgradeHandler) -> UpgradeHandler:
    async def checked(stream: ByteStream) -> None:
        check_task("the upgrade handler")
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
