"""HTTP/2 attacks on a real ``pyre serve --h2c`` process, frames written by hand.

Each attack is bounded in count and time: it stops at the first sign of the server's answer, or
after a fixed number of frames, and the test says which one it saw.  After each, a fresh
connection must still be served.  Each test adds its row to the reliability report (pyre-server
only: uvicorn has no HTTP/2, and granian's limits have other names).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hpack
import pytest
from h2.errors import ErrorCodes
from http2_support import (
    Closed,
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PyreProcess,
    RawH2,
    RstStreamFrame,
    SettingsFrame,
    fresh_get,
    pyre_h2,
)
from torture_support import Report

MAX_STREAMS_ID = 2**31 - 1


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def server(log_dir: Path) -> Iterator[PyreProcess]:
    with pyre_h2(log_dir, "--h2-max-resets", "100", "--h2-max-control-frames", "100") as running:
        yield running


Record = Callable[..., None]


@pytest.fixture
def record(report: Report, request: pytest.FixtureRequest) -> Record:
    """``record(attack, load, outcome, numbers="")``: this test's row in the reliability report."""

    def add(attack: str, load: str, outcome: str, numbers: str = "") -> None:
        with report.measure(request.node.nodeid, "pyre", attack, load) as measurement:
            measurement.outcome(outcome, numbers)

    return add


def name(code: int | None) -> str:
    return "no GOAWAY" if code is None else f"GOAWAY {ErrorCodes(code).name}"


def terminated_with(client: RawH2, within: float = 20.0) -> int | None:
    """The GOAWAY error code the server ended the connection with (``None``: closed without one)."""
    goaway = client.goaway(within)
    return None if goaway is None else goaway.error_code


def test_rapid_reset_is_cut_off_and_the_server_keeps_serving(server: PyreProcess, record: Record) -> None:
    client = RawH2(server.port)
    stream = 1
    goaway: GoAwayFrame | None = None
    try:
        for _ in range(50):  # 50 batches of 20 open-and-reset streams: 1000, ten times the limit
            batch = []
            for _ in range(20):
                batch += [client.headers(stream, "/slow?s=30"), RstStreamFrame(stream, ErrorCodes.CANCEL)]
                stream += 2
            client.send(*batch)
            for frame in client.frames(within=0.05):
                if isinstance(frame, GoAwayFrame):
                    goaway = frame
            if goaway is not None:
                break
    except (Closed, OSError):
        pass
    if goaway is None:
        goaway = client.goaway()
    client.close()
    opened = (stream - 1) // 2
    record(
        "HTTP/2 rapid reset (CVE-2023-44487)",
        "streams opened and reset at once, 20 a write, up to 1,000; limit 100 per 10 s",
        f"{name(goaway and goaway.error_code)} after {opened} streams",
    )
    assert goaway is not None, "rapid reset went on to the end of the attack"
    assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert opened < 1000, "cut off only after every reset"
    head, body = fresh_get(server.port)
    assert (head[":status"], body) == ("200", b"hello")
    # The reset streams' work did not pile up: no handler of theirs is still running.
    deadline = time.monotonic() + 10
    while (in_flight := int(fresh_get(server.port, "/stats")[1].split()[1])) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert in_flight == 0
    assert server.process.poll() is None


def test_continuation_flood_is_cut_off_without_memory_growth(server: PyreProcess, record: Record) -> None:
    before = server.rss()
    client = RawH2(server.port)
    block = b"\x82" * 16384  # the indexed field ":method: GET", 16 KiB of it per frame
    client.send(HeadersFrame(1, block, flags=[]))
    sent = len(block)
    with contextlib.suppress(OSError):  # the server may close before it reads everything sent
        while sent < 64 * 1024 * 1024:  # at most 64 MiB of one header block
            client.send(*(ContinuationFrame(1, block) for _ in range(64)))
            sent += 64 * len(block)
    ended = terminated_with(client)
    client.close()
    growth = server.rss() - before
    record(
        "HTTP/2 CONTINUATION flood",
        "one header block that never ends, 16 KiB frames, up to 64 MiB",
        f"{name(ended)} after {sent / 2**20:.1f} MiB sent",
        f"RSS +{growth / 2**20:.1f} MiB",
    )
    assert ended in (
        None,
        ErrorCodes.ENHANCE_YOUR_CALM,
        ErrorCodes.PROTOCOL_ERROR,
        ErrorCodes.COMPRESSION_ERROR,
    )
    # h2 caps a header block at 64 frames (1 MiB at the 16 KiB frame size); loopback's socket
    # buffers take more before the server's close reaches the client (1 to 5 MiB measured here).
    assert sent < 32 * 1024 * 1024, f"the server read {sent} bytes of a never-ending header block"
    assert growth < 16 * 1024 * 1024
    assert fresh_get(server.port)[1] == b"hello"


@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_control_frame_flood_without_reading_the_acks_is_cut_off(
    server: PyreProcess, kind: str, record: Record
) -> None:
    client = RawH2(server.port)
    frame = SettingsFrame(0) if kind == "settings" else PingFrame(0, b"floodful")
    sent = 0
    try:
        while sent < 100_000:  # a thousand times the limit, never reading an ACK
            client.send(*([frame] * 500))
            sent += 500
    except OSError:
        pass
    code = terminated_with(client)
    client.close()
    record(
        f"HTTP/2 {kind.upper()} flood",
        f"up to 100,000 {kind.upper()} frames, their ACKs never read; limit 100 per 10 s",
        f"{name(code)} after {sent:,} frames written",
    )
    # Not "sent < 100_000": loopback buffers may take the whole flood before the server reads it.
    assert code in (None, ErrorCodes.ENHANCE_YOUR_CALM)
    assert fresh_get(server.port)[1] == b"hello"


def test_a_zero_window_held_forever_ends_within_the_send_timeout(log_dir: Path, record: Record) -> None:
    with pyre_h2(log_dir, "--timeout-send", "2", "--timeout-keep-alive", "60") as server:
        client = RawH2(server.port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
        client.send(client.headers(1, "/big"))
        begun = time.monotonic()
        received = 0
        ended = False
        for frame in client.frames(within=30):
            if isinstance(frame, DataFrame):
                received += len(frame.data)
            if isinstance(frame, RstStreamFrame | GoAwayFrame) or "END_STREAM" in frame.flags:
                ended = True
                break
        took = time.monotonic() - begun
        closed = ended or client_closed(client)
        client.close()
        record(
            "HTTP/2 zero window held forever",
            "INITIAL_WINDOW_SIZE 0, a 4 MiB response; send timeout 2 s",
            f"stream given up after {took:.1f} s" if closed else f"still open after {took:.1f} s",
        )
        assert closed, "the stalled stream was never given up"
        assert received == 0
        assert took < 20, f"the stalled stream lasted {took:.1f} s with --timeout-send 2"
        assert fresh_get(server.port)[1] == b"hello"


def client_closed(client: RawH2) -> bool:
    try:
        client.read_frame(0.5)
    except Closed:
        return True
    except (TimeoutError, OSError):
        return False
    return False


def test_streams_beyond_the_maximum_are_refused(log_dir: Path, record: Record) -> None:
    with pyre_h2(log_dir, "--h2-max-concurrent-streams", "10") as server:
        client = RawH2(server.port)
        client.send(*(client.headers(1 + 2 * i, "/slow?s=1") for i in range(11)))
        refused = []
        done = []
        for frame in client.frames(within=10):
            if isinstance(frame, RstStreamFrame):
                refused.append((frame.stream_id, frame.error_code))
            elif "END_STREAM" in frame.flags:
                done.append(frame.stream_id)
            if len(refused) + len(done) == 11:
                break
        client.close()
        record(
            "HTTP/2 streams beyond the limit",
            "11 streams at once, limit 10",
            f"{len(done)} answered, refused {[(i, ErrorCodes(c).name) for i, c in refused]}",
        )
        assert refused == [(21, ErrorCodes.REFUSED_STREAM)]
        assert sorted(done) == [1 + 2 * i for i in range(10)]


def test_a_lower_stream_id_is_a_protocol_error(server: PyreProcess) -> None:
    client = RawH2(server.port)
    client.send(client.headers(5))
    assert client.response(5)[1] == b"hello"
    client.send(client.headers(3))
    assert terminated_with(client) == ErrorCodes.PROTOCOL_ERROR
    client.close()


def test_a_reused_stream_id_ends_the_connection(server: PyreProcess) -> None:
    """HEADERS again on a stream that has closed: a connection error, STREAM_CLOSED (RFC 9113
    section 5.1, "closed") or PROTOCOL_ERROR (section 5.1.1: an ID no greater than one used)."""
    client = RawH2(server.port)
    client.send(client.headers(1))
    assert client.response(1)[1] == b"hello"
    client.send(client.headers(3))
    assert client.response(3)[1] == b"hello"
    client.send(client.headers(1))
    code = terminated_with(client)
    client.close()
    assert code in (ErrorCodes.PROTOCOL_ERROR, ErrorCodes.STREAM_CLOSED)
    assert fresh_get(server.port)[1] == b"hello"


def test_an_even_stream_id_from_the_client_is_a_protocol_error(server: PyreProcess) -> None:
    client = RawH2(server.port)
    client.send(client.headers(2))
    assert terminated_with(client) == ErrorCodes.PROTOCOL_ERROR
    client.close()


def test_the_last_stream_id_then_no_more(server: PyreProcess) -> None:
    client = RawH2(server.port)
    client.send(client.headers(MAX_STREAMS_ID))
    assert client.response(MAX_STREAMS_ID)[1] == b"hello"
    client.send(client.headers(1))  # no stream ID is left above the last: any new one is lower
    assert terminated_with(client) == ErrorCodes.PROTOCOL_ERROR
    client.close()
    assert fresh_get(server.port)[1] == b"hello"


def test_an_oversized_header_list_gets_431_or_a_connection_error(log_dir: Path, record: Record) -> None:
    with pyre_h2(log_dir, "--limit-header-size", "8192") as server:
        client = RawH2(server.port)
        big = [(f"x-big-{i}", "v" * 1000) for i in range(40)]  # 40 KB of fields, five times the limit
        block = client.encoder.encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", "t"), (":path", "/"), *big]
        )
        first, rest = block[:16384], block[16384:]
        frames = [HeadersFrame(1, first, flags=["END_STREAM"])]
        while rest:
            chunk, rest = rest[:16384], rest[16384:]
            frames.append(ContinuationFrame(1, chunk, flags=[] if rest else ["END_HEADERS"]))
        try:
            client.send(*frames)
        except OSError:
            pass
        status = None
        code = None
        for frame in client.frames(within=10):
            if isinstance(frame, HeadersFrame) and frame.stream_id == 1:
                status = dict(client.decoder.decode(frame.data)).get(":status")
                break
            if isinstance(frame, GoAwayFrame | RstStreamFrame):
                code = frame.error_code
                break
        client.close()
        record(
            "HTTP/2 oversized header list",
            "40 KB of header fields over HEADERS and CONTINUATION, limit 8 KiB",
            f"{status}" if status else f"reset or GOAWAY {code and ErrorCodes(code).name}",
        )
        assert status == "431" or code is not None, "an oversized header list was accepted"
        assert status in (None, "431")
        assert fresh_get(server.port)[1] == b"hello"


def test_sigterm_sends_goaway_and_in_flight_streams_finish(log_dir: Path, record: Record) -> None:
    with pyre_h2(log_dir, "--timeout-drain", "15") as server:
        client = RawH2(server.port)
        client.send(client.headers(1, "/late-body?s=2"))
        # The head came: the stream is in flight when the signal arrives.
        assert any(isinstance(frame, HeadersFrame) and frame.stream_id == 1 for frame in client.frames())
        server.process.send_signal(signal.SIGTERM)
        goaway = None
        body = b""
        ended = False
        for frame in client.frames(within=15):
            if isinstance(frame, GoAwayFrame):
                goaway = frame
                client.send(client.headers(3))  # after GOAWAY: must not be served
            elif isinstance(frame, DataFrame) and frame.stream_id == 1:
                body += frame.data
            elif isinstance(frame, HeadersFrame) and frame.stream_id == 3:
                pytest.fail("a stream opened after GOAWAY was served")
            if frame.stream_id == 1 and "END_STREAM" in frame.flags:
                ended = True
        client.close()
        exit_code = server.process.wait(20)
        record(
            "HTTP/2 graceful shutdown (SIGTERM)",
            "one stream in flight whose body ends 2 s later; a stream opened after GOAWAY",
            f"{name(goaway and goaway.error_code)}, the stream in flight {'finished' if ended else 'cut'}",
            f"exit status {exit_code}",
        )
        assert goaway is not None
        assert goaway.error_code == ErrorCodes.NO_ERROR
        assert goaway.last_stream_id >= 1
        assert ended
        assert body == b"begun finished"
        assert exit_code == 0


BASE = [(":method", "GET"), (":scheme", "http"), (":authority", "t"), (":path", "/")]
MALFORMED = {
    # RFC 9113 section 8.2.1: a field value with CR, LF or NUL; a request smuggled into a header
    # that an HTTP/1.1 hop behind the app would split.
    "value with CRLF": [*BASE, ("x-test", "a\r\nx-injected: 1")],
    "value with NUL": [*BASE, ("x-test", "a\x00b")],
    "uppercase name": [*BASE, ("X-Test", "1")],
    # Section 8.2.2: connection-specific fields; TE other than "trailers".
    "connection field": [*BASE, ("connection", "keep-alive")],
    "transfer-encoding": [*BASE, ("transfer-encoding", "chunked")],
    "te: gzip": [*BASE, ("te", "gzip")],
    # Section 8.3: pseudo-header fields.
    "no :path": BASE[:3],
    "two :path": [*BASE, (":path", "/other")],
    "pseudo after regular": [*BASE[:3], ("x-test", "1"), (":path", "/")],
    "unknown pseudo": [*BASE, (":protocol-x", "1")],
    # Section 8.3.1: :authority and Host that disagree.
    "authority and host disagree": [*BASE, ("host", "other.example")],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_never_reaches_the_app(server: PyreProcess, case: str) -> None:
    """A malformed request is a stream error, a connection error or a 400: never the app's 200."""
    client = RawH2(server.port)
    block = hpack.Encoder().encode(MALFORMED[case])
    client.send(HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]))
    answer: str | None = None
    for frame in client.frames(within=10):
        if isinstance(frame, HeadersFrame) and frame.stream_id == 1:
            answer = dict(client.decoder.decode(frame.data))[":status"]
            break
        if isinstance(frame, RstStreamFrame | GoAwayFrame):
            answer = type(frame).__name__ + " " + ErrorCodes(frame.error_code).name
            break
    client.close()
    assert answer is not None, "no answer at all"
    assert answer.startswith(("4", "RstStreamFrame PROTOCOL_ERROR", "GoAwayFrame PROTOCOL_ERROR")), answer
    assert fresh_get(server.port)[1] == b"hello"


def test_more_content_than_its_content_length_never_reaches_the_app(server: PyreProcess) -> None:
    """Section 8.1.1: DATA beyond the declared content-length makes the request malformed."""
    client = RawH2(server.port)
    fields = [(":method", "POST"), (":scheme", "http"), (":authority", "t"), (":path", "/")]
    block = hpack.Encoder().encode([*fields, ("content-length", "3")])
    client.send(HeadersFrame(1, block, flags=["END_HEADERS"]), DataFrame(1, b"abcdef", flags=["END_STREAM"]))
    answer: str | None = None
    for frame in client.frames(within=10):
        if isinstance(frame, HeadersFrame) and frame.stream_id == 1:
            answer = dict(client.decoder.decode(frame.data))[":status"]
            break
        if isinstance(frame, RstStreamFrame | GoAwayFrame):
            answer = type(frame).__name__ + " " + ErrorCodes(frame.error_code).name
            break
    client.close()
    assert answer is not None
    assert answer.startswith(("4", "RstStreamFrame PROTOCOL_ERROR", "GoAwayFrame PROTOCOL_ERROR")), answer


def test_an_hpack_bomb_is_refused_without_memory_growth(server: PyreProcess, record: Record) -> None:
    """One 4 KB field in the HPACK dynamic table, then a block of 10,000 one-byte references to
    it: 40 MB of header list from 10 KB on the wire (CVE-2016-6581)."""
    client = RawH2(server.port)
    table_entry = client.encoder.encode([*BASE, ("x-bomb", "b" * 4000)])
    client.send(HeadersFrame(1, table_entry, flags=["END_HEADERS", "END_STREAM"]))
    assert client.response(1)[1] == b"hello"
    before = server.rss()
    block = client.encoder.encode(BASE) + b"\xbe" * 10_000  # 0xbe: the dynamic table's entry 62, x-bomb
    client.send(HeadersFrame(3, block, flags=["END_HEADERS", "END_STREAM"]))
    answer: str | None = None
    for frame in client.frames(within=10):
        if isinstance(frame, HeadersFrame) and frame.stream_id == 3:
            answer = dict(client.decoder.decode(frame.data))[":status"]
            break
        if isinstance(frame, RstStreamFrame | GoAwayFrame):
            answer = f"{type(frame).__name__} {ErrorCodes(frame.error_code).name}"
            break
    client.close()
    growth = server.rss() - before
    record(
        "HTTP/2 HPACK bomb (CVE-2016-6581)",
        "10,000 references to a 4 KB table entry in one 10 KB block: 40 MB of fields; limit 32 KiB",
        f"{answer}",
        f"RSS +{growth / 2**20:.1f} MiB",
    )
    assert answer is not None
    assert answer == "431" or answer.startswith(("RstStreamFrame", "GoAwayFrame")), answer
    assert growth < 16 * 1024 * 1024
    assert fresh_get(server.port)[1] == b"hello"


def upload_until_answered(client: RawH2, stream_id: int, most: int) -> tuple[str | None, int]:
    """DATA on ``stream_id`` until the server answers it (its status, or the frame that ended it)."""
    sent = 0
    with contextlib.suppress(OSError):
        while sent < most:
            client.send(DataFrame(stream_id, b"d" * 16384))
            sent += 16384
            for frame in client.frames(within=0.05):
                if isinstance(frame, HeadersFrame) and frame.stream_id == stream_id:
                    return dict(client.decoder.decode(frame.data))[":status"], sent
                if isinstance(frame, RstStreamFrame | GoAwayFrame):
                    return type(frame).__name__, sent
    return None, sent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_body_over_the_limit_is_refused(log_dir: Path, declared: bool) -> None:
    with pyre_h2(log_dir, "--limit-body-size", "100000") as server:
        client = RawH2(server.port)
        fields = [(":method", "POST"), (":scheme", "http"), (":authority", "t"), (":path", "/echo")]
        length = [("content-length", "1000000")] if declared else []
        client.send(HeadersFrame(1, client.encoder.encode([*fields, *length]), flags=["END_HEADERS"]))
        answer, sent = upload_until_answered(client, 1, 1_000_000)
        client.close()
        assert answer in ("413", "RstStreamFrame", "GoAwayFrame"), answer
        assert sent < 1_000_000
        assert fresh_get(server.port)[1] == b"hello"


def test_a_stalled_body_ends_within_the_body_timeout(log_dir: Path) -> None:
    with pyre_h2(log_dir, "--timeout-body", "2", "--timeout-keep-alive", "60") as server:
        client = RawH2(server.port)
        fields = [(":method", "POST"), (":scheme", "http"), (":authority", "t"), (":path", "/echo")]
        declared = client.encoder.encode([*fields, ("content-length", "100")])
        client.send(HeadersFrame(1, declared, flags=["END_HEADERS"]), DataFrame(1, b"only part"))
        begun = time.monotonic()
        answer: str | None = None
        for frame in client.frames(within=30):
            if isinstance(frame, HeadersFrame) and frame.stream_id == 1:
                answer = dict(client.decoder.decode(frame.data))[":status"]
            elif isinstance(frame, RstStreamFrame | GoAwayFrame):
                answer = type(frame).__name__
            if answer:
                break
        took = time.monotonic() - begun
        client.close()
        assert answer in ("408", "RstStreamFrame", "GoAwayFrame"), answer
        assert took < 20, f"a stalled body lasted {took:.1f} s with --timeout-body 2"


def test_an_idle_connection_after_the_preface_is_closed(log_dir: Path) -> None:
    with pyre_h2(log_dir, "--timeout-keep-alive", "2") as server:
        client = RawH2(server.port)
        begun = time.monotonic()
        code = terminated_with(client, within=30)
        took = time.monotonic() - begun
        client.close()
        assert code in (None, ErrorCodes.NO_ERROR)
        assert took < 20, f"an idle HTTP/2 connection stayed {took:.1f} s with --timeout-keep-alive 2"
