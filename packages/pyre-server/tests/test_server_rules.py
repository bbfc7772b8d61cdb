"""The response decisions of ``_http11`` and the head built from them, without sockets.

One framing decision (``response_framing``) and one keep-alive decision
(``request_keep_alive``, then ``keeps_alive``) serve every response; these pin
them per status, method and version, and the exact head ``response_head`` sends.
"""

from __future__ import annotations

import pytest

from pyre.server._http11 import Framing, keeps_alive, request_keep_alive, response_framing
from pyre.server._response import InvalidResponse, response_head

LINES = (b"date: D\r\n", b"server: pyre\r\n", b"")


@pytest.mark.parametrize(
    ("method", "status", "version", "length", "trailers", "framing"),
    [
        ("GET", 200, "1.1", 5, False, Framing.FIXED),
        ("GET", 200, "1.1", None, False, Framing.CHUNKED),
        ("GET", 200, "1.0", None, False, Framing.UNTIL_CLOSE),
        ("GET", 200, "1.0", 5, False, Framing.FIXED),
        ("HEAD", 200, "1.1", 5, False, Framing.NO_CONTENT),
        ("HEAD", 200, "1.1", None, True, Framing.NO_CONTENT),
        ("GET", 204, "1.1", 0, False, Framing.NO_CONTENT),
        ("POST", 304, "1.1", None, False, Framing.NO_CONTENT),
        ("GET", 200, "1.1", 5, True, Framing.CHUNKED),  # only chunked carries trailers
        ("GET", 200, "1.0", 5, True, Framing.FIXED),  # HTTP/1.0: trailers are dropped
        ("GET", 200, "1.0", None, True, Framing.UNTIL_CLOSE),
        ("GET", 101, "1.1", None, False, Framing.SWITCH),
    ],
)
def test_response_framing(
    method: str, status: int, version: str, length: int | None, trailers: bool, framing: Framing
) -> None:
    assert response_framing(method, status, version, length, trailers) is framing


@pytest.mark.parametrize(
    ("version", "method", "options", "expected"),
    [
        ("1.1", "GET", None, True),
        ("1.0", "GET", None, False),
        ("1.1", "GET", frozenset({b"close"}), False),
        ("1.0", "GET", frozenset({b"keep-alive"}), True),
        ("1.0", "GET", frozenset({b"keep-alive", b"close"}), False),
        ("1.1", "GET", frozenset({b"upgrade"}), True),
        ("1.1", "CONNECT", None, False),
        ("1.1", "CONNECT", frozenset({b"keep-alive"}), False),
    ],
)
def test_request_keep_alive(
    version: str, method: str, options: frozenset[bytes] | None, expected: bool
) -> None:
    assert request_keep_alive(version, method, options) is expected


def test_keeps_alive_only_when_nothing_says_close() -> None:
    assert keeps_alive(True, False, False, False, Framing.FIXED)
    assert keeps_alive(True, False, False, False, Framing.CHUNKED)
    assert not keeps_alive(False, False, False, False, Framing.FIXED)
    assert not keeps_alive(True, True, False, False, Framing.FIXED)  # 100-continue never sent
    assert not keeps_alive(True, False, True, False, Framing.FIXED)  # the last answer of a drain
    assert not keeps_alive(True, False, False, True, Framing.FIXED)  # the app said close
    assert not keeps_alive(True, False, False, False, Framing.UNTIL_CLOSE)
    assert not keeps_alive(True, False, False, False, Framing.SWITCH)


def _head(
    status: int,
    headers: list[tuple[bytes, bytes]],
    length: int | None,
    framing: Framing,
    method: str = "GET",
    version: str = "1.1",
    requested: bool = True,
) -> tuple[bytes, bool, int | None]:
    return response_head(status, headers, length, framing, (method, version, requested, False, False), LINES)


def test_head_of_a_fixed_length_response() -> None:
    head, keep_alive, declared = _head(200, [(b"content-type", b"text/plain")], 5, Framing.FIXED)
    assert head == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: D\r\nserver: pyre\r\ncontent-length: 5\r\n\r\n"
    )
    assert keep_alive
    assert declared is None


def test_head_sends_the_true_length_and_reports_the_declared_one() -> None:
    head, _, declared = _head(200, [(b"content-length", b"9")], 5, Framing.FIXED)
    assert head == b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: pyre\r\ncontent-length: 5\r\n\r\n"
    assert declared == 9


def test_head_of_a_chunked_response_drops_the_apps_transfer_encoding() -> None:
    head, _, _ = _head(200, [(b"transfer-encoding", b"gzip")], None, Framing.CHUNKED)
    assert head == b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: pyre\r\ntransfer-encoding: chunked\r\n\r\n"


def test_head_of_a_response_to_head_carries_the_length_the_content_has() -> None:
    head, _, _ = _head(200, [], 5, Framing.NO_CONTENT, method="HEAD")
    assert head == b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: pyre\r\ncontent-length: 5\r\n\r\n"
    head, _, _ = _head(304, [(b"content-length", b"7")], 0, Framing.NO_CONTENT)
    assert head == b"HTTP/1.1 304 Not Modified\r\ndate: D\r\nserver: pyre\r\ncontent-length: 7\r\n\r\n"
    head, _, _ = _head(204, [(b"content-length", b"7")], 0, Framing.NO_CONTENT)
    assert head == b"HTTP/1.1 204 No Content\r\ndate: D\r\nserver: pyre\r\n\r\n"


def test_head_until_close_says_close() -> None:
    head, keep_alive, _ = _head(200, [], None, Framing.UNTIL_CLOSE, version="1.0")
    assert head == b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: pyre\r\nconnection: close\r\n\r\n"
    assert not keep_alive


def test_head_to_http_1_0_keeping_alive_says_so() -> None:
    head, keep_alive, _ = _head(200, [], 0, Framing.FIXED, version="1.0")
    assert head.endswith(b"content-length: 0\r\nconnection: keep-alive\r\n\r\n")
    assert keep_alive


def test_the_apps_connection_close_is_the_servers() -> None:
    head, keep_alive, _ = _head(200, [(b"connection", b"Close")], 0, Framing.FIXED)
    assert (
        head
        == b"HTTP/1.1 200 OK\r\ndate: D\r\nserver: pyre\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert not keep_alive


def test_the_apps_date_and_server_replace_the_servers() -> None:
    head, _, _ = _head(200, [(b"date", b"X"), (b"server", b"Y")], 0, Framing.FIXED)
    assert head == b"HTTP/1.1 200 OK\r\ndate: X\r\nserver: Y\r\ncontent-length: 0\r\n\r\n"


def test_head_of_a_101_keeps_its_connection_field() -> None:
    headers = [(b"connection", b"upgrade"), (b"upgrade", b"websocket")]
    head, keep_alive, _ = _head(101, headers, None, Framing.SWITCH)
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n"
        b"date: D\r\nserver: pyre\r\n\r\n"
    )
    assert not keep_alive


def test_head_of_a_101_gets_connection_upgrade_when_the_app_gave_none() -> None:
    head, _, _ = _head(101, [(b"upgrade", b"websocket")], None, Framing.SWITCH)
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
        b"date: D\r\nserver: pyre\r\nconnection: upgrade\r\n\r\n"
    )
    head, _, _ = _head(
        101, [(b"connection", b"Keep-Alive, Upgrade"), (b"upgrade", b"h2c")], None, Framing.SWITCH
    )
    assert head.count(b"connection:") == 1, head


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        (199, [], "not a final response"),
        (99, [], "not a code from 100 to 599"),
        (200, [(b"Content-Type", b"x")], "is not lowercase"),
        (200, [(b"x", b"a\r\nb")], "CR, LF or NUL"),
        (200, [(b"content-length", b"1"), (b"content-length", b"1")], "more than one content-length"),
    ],
)
def test_a_head_that_cannot_be_sent_is_refused(
    status: int, headers: list[tuple[bytes, bytes]], message: str
) -> None:
    with pytest.raises(InvalidResponse, match=message):
        _head(status, headers, 0, Framing.FIXED)


@pytest.mark.parametrize(
    ("version", "requested", "framing", "ending"),
    [
        ("1.0", False, Framing.FIXED, b"connection: close\r\n\r\n"),  # HTTP/1.0 without keep-alive
        ("1.1", True, Framing.FIXED, b"content-length: 0\r\n\r\n"),  # kept open: the server says nothing
        ("1.0", True, Framing.UNTIL_CLOSE, b"connection: close\r\n\r\n"),  # close-delimited
    ],
)
def test_the_apps_keep_alive_is_never_sent(
    version: str, requested: bool, framing: Framing, ending: bytes
) -> None:
    # pyre spec PYRE-FRAME-14: the connection field is the server's, whatever the app says.
    head, _, _ = _head(
        200, [(b"connection", b"keep-alive, x-trace")], 0, framing, version=version, requested=requested
    )
    assert head.count(b"connection:") == (0 if version == "1.1" else 1), head
    assert b"keep-alive" not in head
    assert b"x-trace" not in head
    assert head.endswith(ending)


def test_a_204_to_head_has_no_content_length() -> None:
    # pyre spec PYRE-FRAME-15: the rule for 204 wins over the one for HEAD.
    head, _, _ = _head(204, [(b"content-length", b"7")], 7, Framing.NO_CONTENT, method="HEAD")
    assert head == b"HTTP/1.1 204 No Content\r\ndate: D\r\nserver: pyre\r\n\r\n"
