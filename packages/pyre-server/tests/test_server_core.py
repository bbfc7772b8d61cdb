"""The sans-IO core of a connection, byte by byte, with no socket and no event loop.

As h11's ``test_connection.py`` does: feed bytes to ``_core.Core``, then check
the requests it queued, the phase it is in (``_state``), and the refusal that
ends the connection.  The socket tests of this directory are the integration
layer over the same code.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyre.server import Config
from pyre.server._core import Core
from pyre.server._request import EMPTY_BODY, HttpBody, HttpRequest
from pyre.server._response import LAST_CHUNK, InvalidResponse, error_response, interim_response, last_chunk
from pyre.server._state import (
    BODY,
    CLOSED,
    HEAD,
    HELD,
    IDLE,
    SWITCHED,
    TRANSITIONS,
    Event,
    InvalidTransition,
    Phase,
    advance,
)
from pyre.spec import ClientDisconnected

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"


class Channel:
    """The connection side of the requests the core makes: nothing a parse uses."""

    closed = False


def core(**settings: object) -> Core:
    config = Config(**settings)  # type: ignore[arg-type]
    return Core(config, Channel(), HttpRequest, config.limit_header_size)  # type: ignore[arg-type]


def targets(parsed: Core) -> list[bytes]:
    return [request.target for request in parsed.queue]


def body_of(request: HttpRequest) -> HttpBody:
    assert isinstance(request.body, HttpBody)
    return request.body


def content(body: HttpBody) -> bytes:
    return b"".join(body._chunks)


# The layer


def test_the_core_imports_no_asyncio() -> None:
    """A process where importing asyncio fails still loads pyre.spec and the core and
    parses with them: no module of the layer, nor of the interface it uses, imports asyncio."""
    package = Path(__file__).parents[1] / "src" / "pyre" / "server"
    script = textwrap.dedent(
        f"""
        import sys, types
        sys.modules["asyncio"] = None  # any import of asyncio now raises ImportError
        import pyre.spec
        server = types.ModuleType("pyre.server")  # the package, without its __init__ (the Server)
        server.__path__ = [{str(package)!r}]
        sys.modules["pyre.server"] = server
        from pyre.server._config import Config
        from pyre.server._core import Core
        from pyre.server._request import HttpRequest
        core = Core(Config(), object(), HttpRequest, 32768)
        core.feed(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        print(core.queue[0].target.decode(), sorted(m for m in sys.modules if m.startswith("pyre.server")))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/a ")
    assert "pyre.server._protocol" not in result.stdout


# The state table


def test_every_listed_transition_is_taken_and_no_other() -> None:
    for phase in Phase:
        for event in Event:
            after = TRANSITIONS.get((phase, event))
            if after is None:
                with pytest.raises(InvalidTransition, match=f"{event.name} in phase {phase.name}"):
                    advance(phase, event)
            else:
                assert advance(phase, event) is after


def test_close_is_allowed_from_every_phase_and_a_closed_connection_reads_no_request() -> None:
    assert all(advance(phase, Event.CLOSE) is CLOSED for phase in Phase)
    with pytest.raises(InvalidTransition):
        advance(CLOSED, Event.BEGIN)
    with pytest.raises(InvalidTransition):
        advance(SWITCHED, Event.RESUME)


def test_an_invalid_transition_inside_a_parser_callback_is_raised_not_answered() -> None:
    """The server's own bug surfaces as itself, never as a 400 to the client."""
    parsed = core()
    parsed.phase = HEAD  # a phase in which no request line can begin
    with pytest.raises(InvalidTransition, match="BEGIN in phase HEAD"):
        parsed.feed(GET)
    assert parsed.refusal is None


# Requests, pipelined


def test_pipelined_requests_are_queued_in_order_and_the_app_is_not_run() -> None:
    parsed = core()
    parsed.feed(GET + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n" + b"HEAD /c?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert targets(parsed) == [b"/a", b"/b", b"/c?q=1"]
    first, _, third = parsed.queue
    assert (first.method, first.http_version, first.authority, first.keep_alive) == ("GET", "1.1", "x", True)
    assert (third.method, third.raw_path, third.query) == ("HEAD", b"/c", b"q=1")
    assert first.body is EMPTY_BODY
    assert parsed.phase is IDLE
    assert parsed.refusal is None
    assert not parsed.noted  # nothing for the transport beyond the queue


def test_a_head_split_across_feeds() -> None:
    parsed = core()
    parsed.feed(b"GET /a HT")
    assert parsed.phase is HEAD
    assert parsed.began  # the header timeout starts now
    assert parsed.noted
    parsed.began = parsed.noted = False
    parsed.feed(b"TP/1.1\r\nHost: x\r\n")
    assert parsed.phase is HEAD
    assert not parsed.began  # the same head: its clock is not restarted
    parsed.feed(b"\r\n")
    assert targets(parsed) == [b"/a"]
    assert parsed.phase is IDLE


def test_empty_lines_before_a_request_line_are_skipped() -> None:
    parsed = core()
    parsed.feed(b"\r\n\r\n" + GET)
    assert targets(parsed) == [b"/a"]


# Keep-alive


@pytest.mark.parametrize(
    ("request_head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", False),
    ],
)
def test_keep_alive_as_the_request_asks(request_head: bytes, keep_alive: bool) -> None:
    parsed = core()
    parsed.feed(request_head)
    (request,) = parsed.queue
    assert request.keep_alive is keep_alive


def test_nothing_after_a_request_that_says_close_is_parsed() -> None:
    """RFC 9112 section 9.6: not even a malformed request after it is answered."""
    parsed = core()
    parsed.feed(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert targets(parsed) == [b"/a"]
    assert parsed.phase is CLOSED
    parsed.feed(b"garbage\r\n\r\n")
    assert parsed.refusal is None
    assert targets(parsed) == [b"/a"]


# Content


def test_content_length_body_in_pieces() -> None:
    parsed = core()
    parsed.feed(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe")
    (request,) = parsed.queue
    body = body_of(request)
    assert parsed.phase is BODY
    assert parsed.receiving is request
    assert (parsed.content_began, parsed.content_received) == (True, 2)
    parsed.feed(b"llo" + GET)
    assert content(body) == b"hello"
    assert body.complete
    assert targets(parsed) == [b"/u", b"/a"]
    assert parsed.phase is IDLE
    assert parsed.receiving is None


def test_chunked_body_with_trailers() -> None:
    parsed = core()
    parsed.feed(
        b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nChecksum: abc\r\n\r\n" + GET
    )
    upload, after = parsed.queue
    body = body_of(upload)
    assert body.length is None
    assert content(body) == b"hello world"
    assert body.complete
    assert body._trailer_fields == [(b"Checksum", b"abc")]
    assert after.target == b"/a"
    assert parsed.phase is IDLE


def test_100_continue_is_expected_until_content_arrives() -> None:
    parsed = core()
    parsed.feed(b"PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    (request,) = parsed.queue
    assert request.expects_continue
    parsed.feed(b"ok")
    assert not request.expects_continue  # the content came anyway: no 100 is owed


def test_100_continue_on_http_1_0_is_ignored() -> None:
    parsed = core()
    parsed.feed(b"PUT /u HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    (request,) = parsed.queue
    assert not request.expects_continue


# Upgrade


UPGRADE = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"


def test_what_follows_an_upgrade_request_is_held_until_the_app_answers() -> None:
    parsed = core()
    parsed.feed(UPGRADE + b"\x81\x05hello")
    (request,) = parsed.queue
    assert request.upgrade_requested
    assert parsed.phase is HELD
    parsed.hold(b"more")
    assert parsed.switch() == bytearray(b"\x81\x05hellomore")  # the stream's buffer now
    assert parsed.phase is SWITCHED


def test_a_declined_upgrade_parses_what_followed_as_requests() -> None:
    parsed = core()
    parsed.feed(UPGRADE + b"GET /b HTTP/1.1\r\n")
    parsed.hold(b"Host: x\r\n\r\n")
    parsed.queue.popleft()  # the transport answered it without switching
    parsed.resume()
    assert targets(parsed) == [b"/b"]
    assert parsed.phase is IDLE


def test_a_declined_upgrade_that_said_close_reads_nothing_more() -> None:
    parsed = core()
    parsed.feed(UPGRADE.replace(b"upgrade\r\n", b"upgrade, close\r\n") + GET)
    parsed.queue.popleft()
    parsed.resume()
    assert parsed.phase is CLOSED
    assert not parsed.queue


# pyre spec PYRE-UPG-9: llhttp ends a request that asks to upgrade at its head, and skips its
# content; the core reads it, then holds what follows (curl --http2 -d sends one such POST).
H2C_POST = (
    b"POST /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
)
HIDDEN = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"  # 33 octets


def test_an_upgrade_request_with_content_in_pieces_then_held() -> None:
    parsed = core()
    parsed.feed(H2C_POST + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n")
    (request,) = parsed.queue
    body = body_of(request)
    assert request.upgrade_requested
    assert (parsed.phase, parsed.receiving, parsed.held) == (BODY, request, None)
    assert request.expects_continue
    assert request.keep_alive
    parsed.feed(b"012")
    assert (content(body), body.complete, parsed.content_received) == (b"012", False, 3)
    parsed.feed(b"3456")
    parsed.feed(b"789" + GET)
    assert (content(body), body.complete) == (b"0123456789", True)
    assert not request.expects_continue  # the content came: no 100 is owed
    assert (parsed.phase, parsed.receiving, parsed.held) == (HELD, None, bytearray(GET))
    parsed.queue.popleft()  # the app declined
    parsed.resume()
    assert targets(parsed) == [b"/a"]
    assert parsed.phase is IDLE


def test_an_upgrade_request_with_content_a_request_in_it_and_one_after_it() -> None:
    """The content is the request's, however it reads; what follows it is the next request
    when the app declines, and the new protocol's when it switches."""
    declined, switched = core(), core()
    for parsed in declined, switched:
        parsed.feed(H2C_POST + b"Content-Length: 33\r\n\r\n" + HIDDEN + GET + b"GET /b HTTP/1.1\r\n")
        (upload,) = parsed.queue
        assert content(body_of(upload)) == HIDDEN
        assert body_of(upload).complete
        assert parsed.phase is HELD
    declined.queue.popleft()
    declined.resume()
    (after,) = declined.queue
    assert (after.target, after.upgrade_requested, after.body) == (b"/a", False, EMPTY_BODY)
    assert declined.phase is HEAD  # /b goes on
    declined.feed(b"Host: x\r\n\r\n")
    assert targets(declined) == [b"/a", b"/b"]
    assert switched.switch() == bytearray(GET + b"GET /b HTTP/1.1\r\n")
    assert switched.phase is SWITCHED


def test_a_switch_before_the_content_came_leaves_the_rest_to_skip() -> None:
    parsed = core()
    parsed.feed(H2C_POST + b"Content-Length: 10\r\n\r\n0123")
    (request,) = parsed.queue
    assert parsed.skipped == 6  # what the transport's stream skips (test_server_upgrade)
    assert parsed.switch() == bytearray()
    assert body_of(request).discarding
    assert (parsed.phase, parsed.receiving, parsed.skipped) == (SWITCHED, None, 0)


def test_what_follows_an_upgrade_request_with_content_is_parsed_as_any_request() -> None:
    """The next request is checked as any other (here: its request line), and may ask to upgrade."""
    parsed = core()
    parsed.feed(H2C_POST + b"Content-Length: 2\r\n\r\nok" + UPGRADE + b"\x81\x05hello")
    parsed.queue.popleft()
    parsed.resume()
    (websocket,) = parsed.queue
    assert websocket.upgrade_requested
    assert parsed.phase is HELD
    assert parsed.held == bytearray(b"\x81\x05hello")
    refused = core()
    refused.feed(H2C_POST + b"Content-Length: 2\r\n\r\nok" + b"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n")
    refused.queue.popleft()
    refused.resume()
    assert not refused.queue
    assert refused.refusal is not None
    assert (refused.refusal.status, refused.refusal.reason) == (400, "malformed request line")


def test_an_upgrade_request_with_content_that_says_close() -> None:
    parsed = core()
    parsed.feed(H2C_POST.replace(b"Upgrade, ", b"close, Upgrade, ") + b"Content-Length: 4\r\n\r\nda")
    (request,) = parsed.queue
    assert parsed.phase is BODY  # still reading its content
    parsed.feed(b"ta" + GET)
    assert content(body_of(request)) == b"data"
    assert not request.keep_alive
    assert parsed.phase is HELD  # the switch may still happen
    parsed.queue.popleft()
    parsed.resume()
    assert parsed.phase is CLOSED
    assert not parsed.queue  # nothing after "close" is processed


def test_an_upgrade_request_with_content_over_the_limit_is_413() -> None:
    parsed = core(limit_body_size=32)
    parsed.feed(H2C_POST + b"Content-Length: 33\r\n\r\n" + HIDDEN)
    assert not parsed.queue
    assert parsed.refusal is not None
    assert (parsed.refusal.status, parsed.refusal.reason) == (413, "request body too large")
    assert parsed.phase is CLOSED


@pytest.mark.parametrize("upgrade", [False, True])
def test_an_upgrade_request_with_content_cut_short_fails_as_any_body(upgrade: bool) -> None:
    parsed = core()
    head = H2C_POST if upgrade else b"POST /u HTTP/1.1\r\nHost: x\r\n"
    parsed.feed(head + b"Content-Length: 10\r\n\r\n0123")
    (request,) = parsed.queue
    parsed.lost()  # the client went away before the rest
    body = body_of(request)
    assert isinstance(body.error, ClientDisconnected)
    assert (content(body), body.complete) == (b"0123", False)


def test_an_upgrade_request_with_chunked_content_is_refused() -> None:
    # Where chunked content ends is llhttp's to find, and it does not read it (rare: refused).
    parsed = core()
    parsed.feed(H2C_POST + b"Transfer-Encoding: chunked\r\n\r\n21\r\n" + HIDDEN + b"\r\n0\r\n\r\n")
    assert not parsed.queue
    refusal = parsed.refusal
    assert refusal is not None
    assert (refusal.status, refusal.reason) == (400, "chunked content in a request that asks to upgrade")
    assert parsed.phase is CLOSED


def test_an_upgrade_request_with_empty_content_is_held_as_any_other() -> None:
    parsed = core()
    parsed.feed(UPGRADE.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n") + b"\x81\x05hello")
    (request,) = parsed.queue
    assert request.upgrade_requested
    assert parsed.phase is HELD


# Rejections: the refusal that ends the connection comes after what was parsed before it


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line"),
        (b"\rGET /a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bare CR or LF before the request line"),
        (b"GET /a HTTP/1.1\r\n\r\n", 400, "missing Host header"),
        (b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        (b"GET /a HTTP/2.1\r\nHost: x\r\n\r\n", 505, "HTTP/2.1 is not supported"),  # not read as 1.1
        (
            b"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: tea\r\n\r\n",
            417,
            "unsupported expectation",
        ),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414, "request-target too long"),
        (b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n", 413, "request body too large"),
        (b"POST /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0"),
        (b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "chunked is not the final"),
    ],
)
def test_each_rejection_behind_a_valid_request(data: bytes, status: int, reason: str) -> None:
    parsed = core(limit_request_line=8190, limit_body_size=10)
    parsed.feed(GET + data)
    assert targets(parsed) == [b"/a"]  # answered first, in order
    refusal = parsed.refusal
    assert refusal is not None
    assert (refusal.status, refusal.reason[: len(reason)]) == (status, reason)
    assert refusal.request is None
    assert parsed.phase is CLOSED
    parsed.feed(GET)  # nothing more is read
    assert targets(parsed) == [b"/a"]


def test_a_method_llhttp_does_not_know_is_repaired_not_refused() -> None:
    parsed = core()
    parsed.feed(GET + b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
    assert [(r.method, r.target) for r in parsed.queue] == [("GET", b"/a"), ("BREW", b"/pot"), ("GET", b"/a")]
    assert parsed.refusal is None


def test_malformed_content_of_a_queued_request_is_answered_in_its_place() -> None:
    """Pyre spec PYRE-BODY-16: the app still sees the request; the 400 is its answer."""
    parsed = core()
    parsed.feed(GET + b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")
    assert targets(parsed) == [b"/a"]
    refusal = parsed.refusal
    assert refusal is not None
    assert refusal.status == 400
    assert refusal.request is not None
    assert refusal.request.target == b"/u"
    assert body_of(refusal.request).error is not None  # the app finds its content failed


def test_malformed_content_of_a_request_being_answered_is_noted_for_the_transport() -> None:
    parsed = core()
    parsed.feed(b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    request = parsed.queue.popleft()  # the transport started it
    parsed.feed(b"zz\r\n")
    assert parsed.failed is not None
    assert parsed.failed[0] is request
    assert parsed.failed[1].status == 400
    assert parsed.refusal is None
    assert parsed.phase is CLOSED


def test_content_over_the_limit_once_answered_asks_for_close() -> None:
    parsed = core(limit_body_size=4)
    parsed.feed(b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    request = parsed.queue.popleft()
    request.response_started = True
    parsed.feed(b"5\r\nhello\r\n0\r\n\r\n")
    assert parsed.close_asked
    assert not request.keep_alive
    assert parsed.phase is CLOSED


def test_a_request_beginning_while_draining_is_refused_503() -> None:
    parsed = core()
    parsed.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n")
    parsed.feed(b"\r\n")
    parsed.draining = True
    parsed.feed(GET)
    refusal = parsed.refusal
    assert refusal is not None
    assert (refusal.status, refusal.reason) == (503, "the server is shutting down")
    assert targets(parsed) == [b"/a"]


def test_stop_drops_what_waits_and_says_whether_content_was_arriving() -> None:
    parsed = core()
    parsed.feed(GET + b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe")
    assert parsed.stop() is True
    assert not parsed.queue
    assert parsed.receiving is None
    assert parsed.phase is CLOSED
    assert core().stop() is False


# The bytes of an error response


def test_an_error_response_is_complete_and_says_close() -> None:
    assert error_response(400, "bad chunk", b"date: D\r\n") == (
        b"HTTP/1.1 400 Bad Request\r\ndate: D\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 23\r\nconnection: close\r\n\r\nBad Request: bad chunk\n"
    )


def test_a_503_says_when_to_retry() -> None:
    assert b"\r\nretry-after: 1\r\n" in error_response(503, "the server is shutting down", b"")
    assert b"retry-after" not in error_response(500, "the application failed", b"")


def test_the_last_chunk_with_and_without_trailers() -> None:
    assert last_chunk([]) == LAST_CHUNK == b"0\r\n\r\n"
    assert last_chunk([(b"checksum", b"abc"), (b"x-n", b"1")]) == b"0\r\nchecksum: abc\r\nx-n: 1\r\n\r\n"
    with pytest.raises(InvalidResponse, match="not allowed here"):
        last_chunk([(b"content-length", b"1")])
    with pytest.raises(InvalidResponse, match="not a sequence"):
        last_chunk(None)  # type: ignore[arg-type]  # what the app's trailers() returned


def test_an_interim_response() -> None:
    assert interim_response(103, [(b"link", b"</a.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
    )
