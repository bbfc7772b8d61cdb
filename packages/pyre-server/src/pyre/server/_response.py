"""Serializing responses: status lines, header lines, framing (RFC 9112 sections 4-7).

Everything that can be computed once is: status lines for every registered
code, the validated wire form of header lines an app sends again and again,
and the ``date``/``server`` lines once per second.  ``response_head`` builds a
response's head from the framing and keep-alive decisions of ``_http11``.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import formatdate
from typing import Final

from pyre.spec import REASON_PHRASES, RawHeaders, is_field_value, is_lowercase_token, is_token

from ._http11 import Framing, keeps_alive

# RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
# A server sends its highest conformant version (RFC 9110 section 2.5), so 1.1 always.
STATUS_LINES: Final = {
    status: b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode()) for status, phrase in REASON_PHRASES.items()
}

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"
CLOSE_LINE: Final = b"connection: close\r\n"
KEEP_ALIVE_LINE: Final = b"connection: keep-alive\r\n"
UPGRADE_LINE: Final = b"connection: upgrade\r\n"


class InvalidResponse(ValueError):
    """The application's response cannot be put on the wire as given.

    A ``ValueError``, as pyre-spec has it for an invalid argument: ``send_interim``
    raises it into the app for fields it cannot send.
    """


# What the framing code needs to know about a header line the app sent.
PLAIN, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, DATE, SERVER = range(6)
_KINDS: Final = {
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"connection": CONNECTION,
    b"date": DATE,
    b"server": SERVER,
}


_LINE_CACHE_SIZE: Final = 4096
_line_cache: dict[tuple[bytes, bytes], tuple[bytes, int]] = {}


def as_status(value: object) -> int:
    """A status that is not exactly an ``int``: an ``int`` subclass such as HTTPStatus, or an error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise InvalidResponse(f"status {value!r} is not an int")


def status_line(status: int) -> bytes:
    """RFC 9110 section 15: a status code is three digits, and only 100 to 599 are defined."""
    line = STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 599:
            raise InvalidResponse(f"status {status} is not a code from 100 to 599")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def check_fields(fields: object, what: str) -> None:
    """Pyre spec PYRE-RESP-3: a field section is a sequence of (name, value) tuples."""
    if type(fields) is list or type(fields) is tuple:
        return
    if not isinstance(fields, Sequence) or isinstance(fields, (str, bytes, bytearray, memoryview)):
        raise InvalidResponse(f"{what} {fields!r:.100} are not a sequence of (name, value) tuples")


def header_line(pair: tuple[bytes, bytes]) -> tuple[bytes, int]:
    """The wire form of one field line and its kind, validated once per distinct pair."""
    try:
        cached = _line_cache.get(pair)
    except TypeError:  # not hashable, so not a pair of bytes
        raise InvalidResponse(f"header {pair!r:.100} is not a (name, value) tuple of bytes") from None
    if cached is not None:
        return cached
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise InvalidResponse(f"header {pair!r:.100} is not a (name, value) tuple of bytes")
    name, value = pair
    if not isinstance(name, bytes) or not isinstance(value, bytes):
        raise InvalidResponse(f"header {pair!r:.100} is not a (name, value) tuple of bytes")
    # Pyre spec PYRE-RESP-4: an app's field name is a token in lower case (checking for
    # that costs what checking any token did, and saves lowering the name); PYRE-RESP-5:
    # a value with CR, LF or NUL would inject a field line of its own.
    if not is_lowercase_token(name):
        problem = "is not lowercase" if is_token(name) else "is not a token"
        raise InvalidResponse(f"header name {name!r} {problem}")
    if not is_field_value(value):
        raise InvalidResponse(f"header {name!r} has CR, LF or NUL in its value")
    cached = (name + b": " + value + b"\r\n", _KINDS.get(name, PLAIN))
    if len(_line_cache) >= _LINE_CACHE_SIZE:
        _line_cache.clear()
    _line_cache[pair] = cached
    return cached


def extra_header_line(name: str, value: str) -> bytes:
    """The wire form of a field the server adds to every response (``Config.headers``).

    Raises ``ValueError`` for what is not a valid field, or one that frames the message.
    """
    try:
        pair = (name.lower().encode("ascii"), value.strip().encode("latin-1"))
        line, kind = header_line(pair)
    except (UnicodeEncodeError, InvalidResponse) as error:
        raise ValueError(f"header {name!r}: {error}") from None
    if kind in (CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION):
        raise ValueError(f"header {name!r} is the server's to send")
    return line


def declared_length(headers: RawHeaders) -> int | None:
    """The app's ``content-length``, if it gave one (pyre spec PYRE-FRAME-2: once, ``1*DIGIT``)."""
    check_fields(headers, "headers")
    declared = None
    for pair in headers:
        line, kind = header_line(pair)
        if kind == CONTENT_LENGTH:
            value = line[16:-2]  # after "content-length: ", before CRLF
            if declared is not None:
                raise InvalidResponse("the response has more than one content-length")
            if not value.isdigit():  # ASCII digits only, for bytes
                raise InvalidResponse(f"content-length {value!r} is not a decimal number")
            declared = int(value)
    return declared


def field_lines(headers: RawHeaders) -> bytes:
    """Trailer or interim field lines: validated, with framing fields refused."""
    check_fields(headers, "fields")
    lines = []
    for pair in headers:
        line, kind = header_line(pair)
        if kind in (CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION):
            raise InvalidResponse(f"{pair[0]!r} is not allowed here")
        lines.append(line)
    return b"".join(lines)


def response_head(
    status: int,
    headers: RawHeaders,
    length: int | None,
    framing: Framing,
    request: tuple[str, str, bool, bool, bool],
    server_lines: tuple[bytes, bytes, bytes],
) -> tuple[bytes, bool, int | None]:
    """The status line and header section of a response.

    ``request``: its method and version, then the arguments of ``keeps_alive``
    the request and connection decide (requested, unread content, last answer).
    ``server_lines``: the date, server and operator's lines, each dropped where
    the app sends its own.  Returns the head, whether the connection stays open
    after the response, and the app's content-length if it gave one (the true
    length is sent: pyre spec PYRE-FRAME-3).
    """
    method, version, requested, unread_content, last = request
    lines = [status_line(status)]
    if status < 200 and framing != Framing.SWITCH:
        raise InvalidResponse(f"status {status} is not a final response")
    check_fields(headers, "headers")
    app_length = None
    app_close = False
    app_upgrade = False
    date, server, extra = server_lines
    for pair in headers:
        line, kind = header_line(pair)
        if kind:
            if kind == CONTENT_LENGTH:
                app_length = line
                continue
            if kind == TRANSFER_ENCODING:  # the server owns framing
                continue
            if kind == CONNECTION:
                app_close = app_close or b"close" in line.lower()
                if framing != Framing.SWITCH:  # a 101 names its Upgrade in Connection
                    continue
                app_upgrade = app_upgrade or b"upgrade" in {
                    option.strip().lower() for option in pair[1].split(b",")
                }
            if kind == DATE:
                date = b""
            elif kind == SERVER:
                server = b""
        lines.append(line)
    declared = declared_length(headers) if app_length is not None else None  # once, 1*DIGIT
    keep_alive = keeps_alive(requested, unread_content, last, app_close, framing)
    lines.append(date)
    lines.append(server)
    lines.append(extra)
    if framing == Framing.FIXED:
        assert length is not None  # the framing of content of a known length
        lines.append(b"content-length: %d\r\n" % length)
    elif framing == Framing.CHUNKED:
        lines.append(b"transfer-encoding: chunked\r\n")
    elif framing == Framing.NO_CONTENT and status != 204:
        # RFC 9110 sections 9.3.2 and 15.4.5: a response to HEAD, or a 304, may
        # carry the content-length the content would have had.
        if app_length is not None:
            lines.append(app_length)
        elif length is not None and method == "HEAD" and status != 304:
            lines.append(b"content-length: %d\r\n" % length)
    if framing == Framing.SWITCH:
        if not app_upgrade:  # pyre spec PYRE-UPG-4
            lines.append(UPGRADE_LINE)
    elif not keep_alive:
        lines.append(CLOSE_LINE)
    elif version == "1.0":
        lines.append(KEEP_ALIVE_LINE)
    lines.append(b"\r\n")
    return b"".join(lines), keep_alive, declared


def chunk(data: bytes) -> bytes:
    """RFC 9112 section 7.1: chunk = chunk-size CRLF chunk-data CRLF."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def interim_response(status: int, fields: RawHeaders) -> bytes:
    """A 1xx response (RFC 9110 section 15.2): its status line and fields, no content."""
    return status_line(status) + field_lines(fields) + b"\r\n"


def last_chunk(trailers: RawHeaders) -> bytes:
    """RFC 9112 section 7.1: last-chunk, then the trailer section, then CRLF (``LAST_CHUNK``
    without trailers)."""
    return b"0\r\n" + field_lines(trailers) + b"\r\n"


def date_line(now: float) -> bytes:
    """The ``date`` field line (RFC 9110 section 6.6.1: IMF-fixdate)."""
    return b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"


# Sent with every 503: seconds after which the client may retry.
RETRY_AFTER_LINE: Final = b"retry-after: 1\r\n"


def error_response(status: int, reason: str, lines: bytes, *, close: bool = True) -> bytes:
    """A complete plain-text error response; says what was wrong, never how the server works.

    ``lines``: the server's own field lines (date, the operator's).
    """
    body = f"{REASON_PHRASES[status]}: {reason}\n".encode()
    return b"".join(
        (
            status_line(status),
            lines,
            # RFC 9110 section 10.2.3: when the client may try again (elsewhere, or once restarted).
            RETRY_AFTER_LINE if status == 503 else b"",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            CLOSE_LINE if close else b"",
            b"\r\n",
            body,
        )
    )
