"""A raw-socket HTTP/1.1 client that reports responses exactly as they were framed.

It is deliberately strict and small: it sends the bytes it is given, unchanged,
and parses each response by RFC 9112 section 6.3 (message body length), so the
suite sees what the server really put on the wire.  Every wait is bounded by a
timeout that turns a hung server into a failure, never into a hung test run.
"""

from __future__ import annotations

import json
import select
import socket
from dataclasses import dataclass, field
from typing import Any

from ..._status import STATUSES_WITHOUT_CONTENT
from .._validator import SpecViolation

__all__ = ["ConnectionClosed", "ProtocolViolation", "WireClient", "WireResponse"]

_MAX_LINE = 256 * 1024
VIOLATION_FIELD = b"x-pyre-spec-violation"
"""The field in which the suite's validated apps report what the server broke."""


class ConnectionClosed(AssertionError):
    """The server closed the connection before a complete response head."""


class ProtocolViolation(AssertionError):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


@dataclass
class WireResponse:
    """One final response, with the interim (1xx) responses that preceded it."""

    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    """Field lines as received; names lowercased."""
    body: bytes
    framing: str
    """``"none"``, ``"length"``, ``"chunked"`` or ``"close"`` (RFC 9112 section 6.3)."""
    complete: bool
    """Whether the body ended where its framing says it ends."""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    interim: list[tuple[int, list[tuple[bytes, bytes]]]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [value.decode("latin-1") for field_name, value in self.headers if field_name == key]

    def trailer(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        for field_name, value in self.trailers:
            if field_name == key:
                return value.decode("latin-1")
        return None

    def json(self) -> Any:
        """The body as JSON, which every canonical app answers with."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"expected a JSON body from the app, got {self.body[:100]!r}") from None

    def connection_tokens(self) -> set[str]:
        return {
            token.strip().lower() for value in self.header_all("connection") for token in value.split(",")
        }

    def __repr__(self) -> str:
        return f"<WireResponse {self.status} {self.framing} body={self.body[:80]!r}>"


class WireClient:
    """One TCP connection to the server under test."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.eof = False
        self.unsent = 0
        """Bytes of the last ``send`` the server did not take before it answered or closed."""

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- sending -------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send ``data``, but stop early once the server answers or closes.

        A server may reject a request before reading all of it; pushing the
        rest would only make its kernel reset the connection and destroy the
        response we want to read.
        """
        view = memoryview(data)
        self.unsent = 0
        while view:
            readable, writable, _ = select.select([self.sock], [self.sock], [], self.timeout)
            if readable:
                break
            if not writable:
                raise TimeoutError(f"server took no data for {self.timeout}s")
            try:
                sent = self.sock.send(view[:65536])
            except (BrokenPipeError, ConnectionResetError):
                break
            view = view[sent:]
        self.unsent = len(view)

    def sendall(self, data: bytes) -> None:
        """Send every byte, whatever the server says meanwhile."""
        self.sock.sendall(data)

    def send_until_blocked(self, data: bytes, limit: int, quiet: float) -> int:
        """Send ``data`` over and over until the socket stays unwritable for ``quiet`` seconds.

        Returns how many bytes the kernel accepted, at most ``limit``.
        """
        sent_total = 0
        position = 0
        self.sock.setblocking(False)
        try:
            while sent_total < limit:
                _, writable, _ = select.select([], [self.sock], [], quiet)
                if not writable:
                    break
                try:
                    sent = self.sock.send(data[position : position + limit - sent_total])
                except BlockingIOError:
                    continue
                sent_total += sent
                position = (position + sent) % len(data)
        finally:
            self.sock.settimeout(self.timeout)
        return sent_total

    # -- receiving -----------------------------------------------------------

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            raise TimeoutError(f"no data from the server for {self.timeout}s") from None
        if not data:
            self.eof = True
            return False
        self._buffer += data
        return True

    def _read_line(self) -> bytes | None:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                if not line.endswith(b"\r\n"):
                    raise ProtocolViolation(f"line not ended by CRLF: {line!r}")
                return line[:-2]
            if len(self._buffer) > _MAX_LINE:
                raise ProtocolViolation("response line too long")
            if not self._fill():
                return None

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_exact(self, size: int) -> bytes:
        """``size`` bytes, or fewer if the server closed first."""
        return self._read_exact(size)

    def read_fields(self) -> list[tuple[bytes, bytes]] | None:
        """A field section up to its empty line; ``None`` if the connection closed first."""
        fields: list[tuple[bytes, bytes]] = []
        while True:
            line = self._read_line()
            if line is None:
                return None
            if not line:
                return fields
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise ProtocolViolation(f"malformed field line {line!r}")
            fields.append((name.lower(), value.strip(b" \t")))

    def read_head(self) -> WireResponse:
        """Read one response head, interim or final, and no body."""
        line = self._read_line()
        if line is None:
            if self._buffer:
                raise ProtocolViolation(f"truncated response head: {bytes(self._buffer)!r}")
            raise ConnectionClosed("connection closed before a response")
        version, status, reason = _parse_status_line(line)
        headers = self.read_fields()
        if headers is None:
            raise ProtocolViolation("connection closed inside the response head")
        return WireResponse(version, status, reason, headers, b"", "none", True)

    def read_response(self, method: str = "GET") -> WireResponse:
        """Read interim responses and one final response to a ``method`` request.

        Raises ``SpecViolation`` when the app found that the server broke an assertion.
        """
        interim: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        while True:
            response = self.read_head()
            if 100 <= response.status < 200 and response.status != 101:
                interim.append((response.status, response.headers))
                continue
            response.interim = interim
            self.read_body(response, method)
            for name, value in response.headers:
                if name == VIOLATION_FIELD:
                    assertion, _, message = value.decode("latin-1").partition(": ")
                    raise SpecViolation(assertion, f"the server broke it, as the app saw: {message}")
            return response

    def read_body(self, response: WireResponse, method: str = "GET") -> None:
        """Read the body that ``response``'s head announces."""
        # RFC 9112 section 6.3, in its order.
        if method == "HEAD" or response.status in STATUSES_WITHOUT_CONTENT or response.status == 101:
            return
        codings = [
            v.strip().lower() for value in response.header_all("transfer-encoding") for v in value.split(",")
        ]
        lengths = response.header_all("content-length")
        if codings:
            if lengths:
                raise ProtocolViolation("response has both Transfer-Encoding and Content-Length")
            if codings[-1] != "chunked":
                raise ProtocolViolation(f"response transfer codings {codings} do not end in chunked")
            response.framing = "chunked"
            self._read_chunked(response)
        elif lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                raise ProtocolViolation(f"invalid response Content-Length {lengths}")
            size = int(lengths[0])
            response.framing = "length"
            response.body = self._read_exact(size)
            response.complete = len(response.body) == size
        else:
            response.framing = "close"
            while self._fill():
                pass
            response.body = bytes(self._buffer)
            self._buffer.clear()

    def read_chunk(self) -> bytes | None:
        """The next chunk's data; ``b""`` for the last chunk (trailers not read); ``None`` if cut off."""
        line = self._read_line()
        if line is None:
            return None
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolViolation(f"bad chunk size line {line!r}") from None
        if size == 0:
            return b""
        data = self._read_exact(size)
        if len(data) < size or self._read_exact(2) != b"\r\n":
            return None
        return data

    def _read_chunked(self, response: WireResponse) -> None:
        parts = []
        while True:
            data = self.read_chunk()
            if data is None:
                response.complete = False
                break
            if not data:
                trailers = self.read_fields()
                response.trailers = trailers or []
                response.complete = trailers is not None
                break
            parts.append(data)
        response.body = b"".join(parts)

    def read_until_close(self) -> bytes:
        """Everything the server sends until it closes; times out if it never does."""
        while self._fill():
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    version, _, rest = line.partition(b" ")
    status_text, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(status_text) != 3 or not status_text.isdigit():
        raise ProtocolViolation(f"malformed status line {line!r}")
    return version, int(status_text), reason
