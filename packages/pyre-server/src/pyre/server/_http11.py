"""The HTTP/1.1 request rules httptools leaves to the server (RFC 9110, RFC 9112).

httptools (llhttp) tokenizes the message and already refuses much malformed
input: bad field names and values, bare LF, obs-fold, Content-Length together
with Transfer-Encoding, duplicate Content-Length.  The checks here cover what
it accepts but the RFCs forbid, and decide what each failure is answered with.
Every function is pure: bytes in, verdict out.

The two decisions a response needs are made here too, each in one function:
how its content is delimited (``response_framing``) and whether the
connection stays open after it (``request_keep_alive`` for what the request
asks, ``keeps_alive`` for what the response then allows).
"""

from __future__ import annotations

import enum
import functools
import re
from typing import TYPE_CHECKING, Final

from pyre.spec import STATUSES_WITHOUT_CONTENT, TOKEN_REGEX, is_token

if TYPE_CHECKING:
    from ._request import HttpRequest


class Rejection(Exception):
    """A request that is answered with an error status and then the connection is closed.

    RFC 9112 section 2.2: "When a server listening only for HTTP request messages
    ... receives a sequence of octets that does not match the HTTP-message
    grammar ... the server SHOULD respond with a 400 (Bad Request) response and
    close the connection."  Closing is the default for every rejection because
    the framing of whatever follows can no longer be trusted.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        # The request this answers, when its head was valid and its content is not.
        self.request: HttpRequest | None = None


# What each llhttp error is answered with; anything not listed is 400.
PARSER_ERROR_STATUS: Final = {"Content-Length overflow": 413}

# The methods llhttp tokenizes.  A request with any other method token is
# re-parsed with a stand-in from this set; the app sees the real one.
LLHTTP_METHODS: Final = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH "
    b"UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE "
    b"UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
STAND_IN_METHOD: Final = b"PUT"

# RFC 9112 section 3: request-line = method SP request-target SP HTTP-version
_REQUEST_LINE: Final = re.compile(b"(" + TOKEN_REGEX.encode() + rb") ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
# RFC 9110 section 5.5: field-value octets are VCHAR, obs-text, SP and HTAB.  (Stricter
# than pyre.spec.is_field_value, the rule for what an app sends: this is what a server takes.)
_NOT_FIELD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# RFC 9110 section 7.2: Host = uri-host [ ":" port ]; RFC 3986 section 3.2.2:
# host = IP-literal / IPv4address / reg-name, IP-literal = "[" ( IPv6address / IPvFuture ) "]",
# IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).  An empty Host is
# allowed when the target URI has no authority.
_HOST: Final = re.compile(
    rb"(?:\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]"
    rb"|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?"
)

# RFC 9112 section 3.2.2: absolute-form = absolute-URI.  Only http and https
# URIs identify resources this server can be the origin of.
_ABSOLUTE_FORM: Final = re.compile(rb"(?i:https?)://([^/?#]*)([^#]*)")


# Any method token reaches the app (RFC 9110 section 9.1), but not one of any length: the
# longest registered method (UPDATEREDIRECTREF) has 17 letters; limit_request_line bounds
# the target alone.
LONGEST_METHOD: Final = 64


def status_for_parser_error(message: str) -> int:
    return PARSER_ERROR_STATUS.get(message, 400)


def canonical_head(head: bytes) -> tuple[bytes, bytes] | None:
    """A head llhttp refused, checked against the RFC grammar itself.

    llhttp is stricter than RFC 9112 in two ways: it knows a fixed list of
    methods (RFC 9110 section 9.1: "the method token is case-sensitive", any
    token) and it does not strip a tab around ``Transfer-Encoding: chunked``
    (RFC 9110 section 5.5: OWS around a field value is not part of it).  For a
    head that is valid by the RFC, returns ``(method, head)`` where ``head`` is
    the same message in a form llhttp takes: a stand-in method and field values
    without surrounding whitespace.  Otherwise ``None``, and the request is 400;
    a method of more than ``LONGEST_METHOD`` octets is 501 (``Rejection``).
    """
    lines = head.split(b"\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    method, target, version = request_line.groups()
    if len(method) > LONGEST_METHOD:
        # RFC 9112 section 3: "A server that receives a method longer than any that it
        # implements SHOULD respond with a 501 (Not Implemented) status code."
        raise Rejection(501, "method longer than any this server takes")
    out = [b"%s %s %s\r\n" % (method if method in LLHTTP_METHODS else STAND_IN_METHOD, target, version)]
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        if not colon or not is_token(name) or _NOT_FIELD_VALUE.search(value):
            return None
        out.append(name + b": " + value + b"\r\n")
    out.append(b"\r\n")
    return method, b"".join(out)


def check_version(version: str) -> str:
    """The version to answer in, from the one llhttp read (leniently) off the request line.

    RFC 9110 section 2.5: a recipient of a higher minor version "SHOULD process the
    message as if it were in the highest minor version within that major version to
    which the recipient is conformant"; section 15.6.6: 505 for a major version it
    "refuses to support".  llhttp reports a request line without a version as 0.9.
    """
    if version in ("1.1", "1.0"):
        return version
    if version == "0.9":
        raise Rejection(400, "request line without an HTTP version")
    if version.startswith("1."):
        return "1.1"
    raise Rejection(505, f"HTTP/{version} is not supported")


def check_host(version: str, hosts: list[bytes]) -> None:
    """RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request) status
    code to any HTTP/1.1 request message that lacks a Host header field and to any
    request message that contains more than one Host header field line or a Host
    header field with an invalid field value."
    """
    if not hosts:
        if version == "1.1":
            raise Rejection(400, "missing Host header")
        return
    if len(hosts) > 1:
        raise Rejection(400, "more than one Host header")
    if not _HOST.fullmatch(hosts[0]):
        raise Rejection(400, "invalid Host header")


def split_target(method: str, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """``(raw_path, query, authority)`` for a request-target (RFC 9112 section 3.2).

    ``authority`` is not ``None`` only for absolute-form and authority-form, where
    RFC 9112 section 3.2.2 says the server "MUST ignore the received Host header
    field (if any) and instead use the host information of the request-target".
    """
    if target[:1] == b"/":  # origin-form
        if b"#" in target:
            raise Rejection(400, "fragment in request-target")
        path, _, query = target.partition(b"?")
        return path, query, None
    if target == b"*":  # asterisk-form, only for a server-wide OPTIONS
        if method != "OPTIONS":
            raise Rejection(400, "asterisk-form request-target outside OPTIONS")
        return b"*", b"", None
    if method == "CONNECT":  # authority-form
        if not _HOST.fullmatch(target):
            raise Rejection(400, "invalid authority-form request-target")
        return b"", b"", target
    absolute = _ABSOLUTE_FORM.fullmatch(target)
    if absolute is None:
        raise Rejection(400, "invalid request-target")
    authority, rest = absolute.group(1), absolute.group(2)
    if not _HOST.fullmatch(authority):
        raise Rejection(400, "invalid authority in request-target")
    path, _, query = rest.partition(b"?")
    return path or b"/", query, authority


def check_transfer_encoding(version: str, values: list[bytes]) -> None:
    """Accept exactly ``Transfer-Encoding: chunked`` on HTTP/1.1.

    RFC 9112 section 6.1: "A server or client that receives an HTTP/1.0 message
    containing a Transfer-Encoding header field MUST treat the message as if the
    framing is faulty ... and close the connection after processing the message."

    RFC 9112 section 6.3: "If a Transfer-Encoding header field is present in a
    request and the chunked transfer coding is not the final encoding, the message
    body length cannot be determined reliably; the server MUST respond with the
    400 (Bad Request) status code and then close the connection."

    RFC 9112 section 6.1: "A server that receives a request message with a
    transfer coding it does not understand SHOULD respond with 501 (Not
    Implemented)."  Chunked is the only coding this server decodes.
    """
    if version == "1.0":
        raise Rejection(400, "Transfer-Encoding in an HTTP/1.0 request")
    codings = [coding.strip().lower() for value in values for coding in value.split(b",")]
    if not codings or codings[-1] != b"chunked":
        raise Rejection(400, "chunked is not the final transfer coding")
    # RFC 9112 section 7: "A sender MUST NOT apply the chunked transfer coding
    # more than once to a message body."
    if codings.count(b"chunked") > 1:
        raise Rejection(400, "chunked applied more than once")
    if len(codings) > 1:
        raise Rejection(501, "unsupported transfer coding")


def connection_options(values: list[bytes]) -> frozenset[bytes]:
    """RFC 9110 section 7.6.1: Connection = #connection-option, case-insensitive."""
    if len(values) == 1:
        return _field_options(values[0])
    return frozenset().union(*map(_field_options, values))


@functools.lru_cache(maxsize=64)
def _field_options(value: bytes) -> frozenset[bytes]:
    # Cached: clients send the same few values ("close" on every request of a client
    # that opens a connection per request), and splitting and folding each cost ~4%.
    return frozenset(option.strip().lower() for option in value.split(b","))


def request_keep_alive(version: str, method: str, options: frozenset[bytes] | None) -> bool:
    """Whether the client asks to keep the connection (``options``: its Connection field's).

    RFC 9112 section 9.3: persistence is the default for 1.1 unless "close" is
    sent; HTTP/1.0 persists only with the "keep-alive" option (section 9.3 and
    C.2.2).  What follows a CONNECT is a tunnel, never another request.
    """
    if method == "CONNECT":
        return False
    if options is None:
        return version == "1.1"
    if b"close" in options:
        return False
    return version == "1.1" or b"keep-alive" in options


class Framing(enum.IntEnum):
    """How a response's content is delimited (RFC 9112 section 6.3)."""

    NO_CONTENT = 0  # a response to HEAD, a 204 or a 304: the head is all
    FIXED = 1  # content-length
    CHUNKED = 2  # transfer-encoding: chunked
    UNTIL_CLOSE = 3  # HTTP/1.0 content of unknown length: closing the connection ends it
    SWITCH = 4  # 101: the connection belongs to another protocol after the head


# RFC 9110 section 6.4.1: "A server MUST NOT send any Transfer-Encoding or
# Content-Length header fields in a 204 response", and 304 and 1xx never have content
# (pyre.spec.STATUSES_WITHOUT_CONTENT, imported above).


def response_framing(method: str, status: int, version: str, length: int | None, trailers: bool) -> Framing:
    """The framing of a final response with content of ``length`` octets (``None``: unknown).

    ``trailers``: the app has a trailer section to send and no content-length of
    its own, and only the chunked coding carries one (RFC 9112 section 7.1.2).
    """
    if status == 101:
        return Framing.SWITCH
    if method == "HEAD" or status in STATUSES_WITHOUT_CONTENT:
        return Framing.NO_CONTENT
    if trailers and version == "1.1":
        return Framing.CHUNKED
    if length is not None:
        return Framing.FIXED
    # RFC 9112 section 6.1: an HTTP/1.0 client does not know the chunked coding.
    return Framing.CHUNKED if version == "1.1" else Framing.UNTIL_CLOSE


def keeps_alive(requested: bool, unread_content: bool, last: bool, app_close: bool, framing: Framing) -> bool:
    """Whether the connection stays open after a response (RFC 9112 section 9.3).

    ``requested``: ``request_keep_alive`` for its request.  ``unread_content``: the
    request expects 100 (Continue) and was never sent it, so the client may never
    send its content and waiting to skip it could hang (RFC 9110 section 10.1.1):
    close instead, and say so (RFC 9112 section 9.6).  ``last``: the server is
    draining and no other answer follows this one.  ``app_close``: the app's own
    Connection field says "close".  Content delimited by the close ends the
    connection; a 101's connection belongs to the new protocol.
    """
    return (
        requested
        and not unread_content
        and not last
        and not app_close
        and framing != Framing.UNTIL_CLOSE
        and framing != Framing.SWITCH
    )


def expects_continue(version: str, values: list[bytes]) -> bool:
    """RFC 9110 section 10.1.1: the only expectation defined is "100-continue".

    "A server that receives an Expect field value containing a member other than
    100-continue MAY respond with a 417 (Expectation Failed) status code", and
    "A server that receives a 100-continue expectation in an HTTP/1.0 request
    MUST ignore that expectation."
    """
    if not values:
        return False
    for value in values:
        if value.strip().lower() != b"100-continue":
            raise Rejection(417, "unsupported expectation")
    return version == "1.1"


def parse_content_length(value: bytes) -> int:
    """llhttp has already refused anything but one run of digits."""
    return int(value)


def check_leading_lines(data: bytes) -> bool:
    """What llhttp skipped before a request line: empty lines (CRLF) only.

    RFC 9112 section 2.2: a server "SHOULD ignore at least one empty line (CRLF)
    received prior to the request-line"; a bare CR or a lone LF is not one.  Returns
    whether ``data`` ends in a CR that may yet be followed by its LF.
    """
    pending_cr = data.endswith(b"\r")
    whole = data[:-1] if pending_cr else data
    if whole != b"\r\n" * (len(whole) // 2):
        raise Rejection(400, "bare CR or LF before the request line")
    return pending_cr


# RFC 9112 section 7.1: chunk-size = 1*HEXDIG.  Leading zeros are valid, but where
# recipients bound the digits differently they read different sizes: more than a
# 64-bit size needs is refused (h11 allows 20).
MAX_CHUNK_SIZE_DIGITS: Final = 16
# The longest chunk-size line with its extensions; RFC 9112 section 7.1.1 sets no
# bound (Go's net/http uses the same 4096).
MAX_CHUNK_LINE: Final = 4096
_HEX_DIGITS: Final = re.compile(rb"[0-9A-Fa-f]+")


def chunk_size(line: bytes) -> int | None:
    """The size from a chunk line: chunk-size [ chunk-ext ], ext = *( BWS ";" ... ).

    ``None`` for a line llhttp refuses itself, so that the request fails where llhttp
    finds it, with the content before it delivered.
    """
    size, semicolon, _ = line.partition(b";")
    digits = size.rstrip(b" \t")
    if not _HEX_DIGITS.fullmatch(digits):
        return None
    if len(digits) != len(size) and not semicolon:  # llhttp is lenient; BWS only before ";"
        raise Rejection(400, "whitespace after the chunk size")
    if len(digits) > MAX_CHUNK_SIZE_DIGITS:
        raise Rejection(400, "chunk size with too many digits")
    return int(digits, 16)


class ChunkedScan:
    """Follows a chunked body through the raw bytes llhttp parses, a batch at a time.

    llhttp decodes the body; this checks what it lets through (``chunk_size``, chunk
    lines longer than ``MAX_CHUNK_LINE``) and finds where the body, trailer section
    included, ends, so that the request line after it can be checked too.
    """

    __slots__ = ("_skip", "_carry", "_trailers", "_lost", "_trailer_limit")

    def __init__(self, trailer_limit: int) -> None:
        self._skip = 0  # chunk data and its CRLF still to pass over
        self._carry = b""  # a chunk line begun in an earlier batch, or the trailers' last bytes
        self._trailers = False
        self._lost = False  # at a line llhttp will refuse: nothing more to follow
        # llhttp holds a trailer field line until it ends: the section is bounded as it arrives.
        self._trailer_limit = trailer_limit

    def scan(self, data: bytes, start: int) -> int:
        """Follow ``data[start:]``: where the body ends in ``data``, or -1 if it goes on."""
        pos = start
        end = len(data)
        while pos < end and not self._lost:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
            elif self._trailers:
                # The body ends at the first empty line after the last chunk; the
                # carry starts as that chunk's own CRLF.
                text = self._carry + data[pos:]
                found = text.find(b"\r\n\r\n")
                if found < 0:
                    self._trailer_limit -= len(text) - len(self._carry)
                    if self._trailer_limit < 0:
                        raise Rejection(431, "trailer section too large")
                    self._carry = text[-3:]
                    return -1
                return pos + found + 4 - len(self._carry)
            else:
                carried = len(self._carry)
                text = self._carry + data[pos : pos + MAX_CHUNK_LINE + 2]
                found = text.find(b"\r\n")
                if found < 0:
                    if len(text) > MAX_CHUNK_LINE:
                        raise Rejection(400, "chunk line too long")
                    self._carry = text
                    return -1
                if found > MAX_CHUNK_LINE:
                    raise Rejection(400, "chunk line too long")
                size = chunk_size(text[:found])
                pos += found + 2 - carried
                self._carry = b""
                if size is None:
                    self._lost = True
                elif size:
                    self._skip = size + 2
                else:
                    self._trailers = True
                    self._carry = b"\r\n"
        return -1
