"""What the server does with an application's answer it cannot send as given (pyre spec 6 and 8).

Before the response started (nothing of it on the wire): a logged 500 with
``connection: close``.  After: a logged, cut-short response (no last chunk, fewer
bytes than the content-length, a reset for close-delimited content) and an
access-log line that says so.  Either way the connection is closed, nothing
pipelined behind it runs, and no descriptor stays open.
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
import pathlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from server_support import TIMEOUT, connect, exchange, fds_settle, open_fds, serve, status_of

from pyre.spec import FileBody, Request, Response

GET = b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
PIPELINED = GET + b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
SERVER_ERROR = b"HTTP/1.1 500 Internal Server Error\r\n"


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pyre.server" and r.levelno >= logging.ERROR]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pyre.server.access"]


async def answer_with(
    make: Callable[[], Any], caplog: pytest.LogCaptureFixture, data: bytes = PIPELINED
) -> bytes:
    """Serve an app that answers ``make()``; send ``data``; everything until the server closes."""
    calls: list[str] = []

    async def app(request: Request) -> Response:
        calls.append(request.path)
        return make()  # type: ignore[no-any-return]

    caplog.set_level(logging.INFO)
    async with serve(app, access_log=True) as server:
        baseline = open_fds()
        raw = await exchange(server, data)
        assert await fds_settle(baseline) <= baseline, "a descriptor was left open"
    assert calls == ["/first"], "a request pipelined behind the failed one was run"
    return raw


async def _chunks(*parts: object) -> AsyncIterator[object]:
    for part in parts:
        yield part


async def _fails_at_once() -> AsyncIterator[bytes]:
    no_parts: tuple[bytes, ...] = ()
    for part in no_parts:  # an async generator that raises before its first chunk
        yield part
    raise RuntimeError("the first chunk failed")


class _BrokenHeaders(Response):
    """A subclass whose ``headers`` raises when the server reads it."""

    @property  # type: ignore[override]
    def headers(self) -> object:
        raise LookupError("headers are computed lazily and failed")

    @headers.setter
    def headers(self, value: object) -> None:
        pass


class _BrokenIterable:
    def __aiter__(self) -> AsyncIterator[bytes]:
        raise LookupError("no iterator today")


# Each: how the app answers, and what the error log must say about it.
BEFORE_THE_RESPONSE: dict[str, tuple[Callable[[], Any], str]] = {
    "dict headers": (
        lambda: Response(200, {"content-type": "text/plain"}, b"x"),  # type: ignore[arg-type]
        "headers {'content-type': 'text/plain'} are not a sequence",
    ),
    "None headers": (lambda: Response(200, None, b"x"), "headers None are not a sequence"),  # type: ignore[arg-type]
    "a header that is one bytes": (
        lambda: Response(200, [b"x-a: v"], b"x"),  # type: ignore[list-item]
        "header b'x-a: v' is not a (name, value) tuple",
    ),
    "headers that are one bytes": (
        lambda: Response(200, b"x-a: v", b"x"),  # type: ignore[arg-type]
        "headers b'x-a: v' are not a sequence",
    ),
    "a header of three items": (
        lambda: Response(200, [(b"x-a", b"v", b"w")], b"x"),  # type: ignore[list-item]
        "is not a (name, value) tuple",
    ),
    "a header list": (
        lambda: Response(200, [[b"x-a", b"v"]], b"x"),  # type: ignore[list-item]
        "is not a (name, value) tuple",
    ),
    "a str header value": (
        lambda: Response(200, [(b"x-a", "v")], b"x"),  # type: ignore[list-item]
        "is not a (name, value) tuple of bytes",
    ),
    "an int header value": (
        lambda: Response(200, [(b"content-length", 1)], b"x"),  # type: ignore[list-item]
        "is not a (name, value) tuple of bytes",
    ),
    "a generator of headers": (
        lambda: Response(200, (pair for pair in [(b"x-a", b"v")]), b"x"),  # type: ignore[arg-type]
        "are not a sequence",
    ),
    "a str status": (lambda: Response("200", [], b"x"), "status '200' is not an int"),  # type: ignore[arg-type]
    "a None status": (lambda: Response(None, [], b"x"), "status None is not an int"),  # type: ignore[arg-type]
    "a bool status": (lambda: Response(True, [], b"x"), "status True is not an int"),
    "a float status": (lambda: Response(200.0, [], b"x"), "status 200.0 is not an int"),  # type: ignore[arg-type]
    "status 600": (lambda: Response(600, [], b"x"), "status 600 is not a code from 100 to 599"),
    "status 99": (lambda: Response(99, [], b"x"), "status 99 is not a code from 100 to 599"),
    "status 1000": (lambda: Response(1000, [], b"x"), "status 1000 is not a code from 100 to 599"),
    "a 1xx status": (lambda: Response(103, [], b"x"), "status 103 is not a final response"),
    "a str": (lambda: "hello", "the application returned 'hello', not a pyre.spec.Response"),
    "None": (lambda: None, "the application returned None"),
    "a str body": (lambda: Response(200, [], "hello"), "body 'hello' is not bytes"),  # type: ignore[arg-type]
    "an int body": (lambda: Response(200, [], 5), "body 5 is not bytes"),  # type: ignore[arg-type]
    "a list body": (lambda: Response(200, [], [b"a"]), "body [b'a'] is not bytes"),  # type: ignore[arg-type]
    "a bytearray body": (lambda: Response(200, [], bytearray(b"a")), "is not bytes"),  # type: ignore[arg-type]
    "a memoryview body": (lambda: Response(200, [], memoryview(b"a")), "is not bytes"),  # type: ignore[arg-type]
    "a stream yielding str": (
        lambda: Response(200, [], _chunks("text")),  # type: ignore[arg-type]
        "the response body yielded 'text', not bytes",
    ),
    "a stream yielding None": (
        lambda: Response(200, [], _chunks(None)),  # type: ignore[arg-type]
        "the response body yielded None, not bytes",
    ),
    "a stream with bad headers": (
        lambda: Response(200, None, _chunks(b"a")),  # type: ignore[arg-type]
        "headers None are not a sequence",
    ),
    "a stream longer than its content-length": (
        lambda: Response(200, [(b"content-length", b"1")], _chunks(b"ab")),  # type: ignore[arg-type]
        "longer than its content-length",
    ),
    "two content-lengths": (
        lambda: Response(200, [(b"content-length", b"1"), (b"content-length", b"1")], b"x"),
        "more than one content-length",
    ),
    "a content-length that is not a number": (
        lambda: Response(200, [(b"content-length", b"+1")], b"x"),
        "content-length b'+1' is not a decimal number",
    ),
    "trailers that are not callable": (
        lambda: Response(200, [], b"x", trailers=[(b"x-t", b"1")]),  # type: ignore[arg-type]
        "",
    ),
    "a file that does not exist": (
        lambda: Response(200, [], FileBody(path="/nonexistent/pyre-test-file")),
        "",
    ),
}


@pytest.mark.parametrize("shape", list(BEFORE_THE_RESPONSE))
async def test_a_malformed_answer_is_a_logged_500_and_a_clean_close(
    shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, message = BEFORE_THE_RESPONSE[shape]
    raw = await answer_with(make, caplog)
    assert raw.startswith(SERVER_ERROR), raw[:200]
    assert raw.count(b"HTTP/1.1 ") == 1  # the pipelined request is not answered...
    head = raw.partition(b"\r\n\r\n")[0]
    assert b"\r\nconnection: close" in head  # ...and the response said the connection closes
    (record,) = errors(caplog)
    assert "GET /first" in record.getMessage()
    assert message in record.getMessage() or (record.exc_info and message in str(record.exc_info[1]))
    (line,) = access_lines(caplog)
    assert line.endswith(' - "GET /first HTTP/1.1" 500')


async def test_an_exception_from_the_responses_own_attributes_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = await answer_with(lambda: _BrokenHeaders(200, [], b"x"), caplog)
    assert raw.startswith(SERVER_ERROR)
    (record,) = errors(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


async def test_an_async_iterable_whose_aiter_raises_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    raw = await answer_with(lambda: Response(200, [], _BrokenIterable()), caplog)
    assert raw.startswith(SERVER_ERROR)
    (record,) = errors(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


async def test_a_stream_whose_first_chunk_raises_is_a_500_logged_once_without_stopiteration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = await answer_with(lambda: Response(200, [(b"x-a", b"1")], _fails_at_once()), caplog)
    assert raw.startswith(SERVER_ERROR)
    assert b"x-a" not in raw  # the head that was built is not sent
    (record,) = errors(caplog)
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, RuntimeError)
    assert error.__context__ is None  # no chained StopIteration
    assert error.__cause__ is None
    (line,) = access_lines(caplog)
    assert line.endswith(" 500")


async def test_a_stream_that_failed_leaves_no_exception_handled_for_the_next_request() -> None:
    # The compiled build once left the failure set as the exception being handled (an
    # await in a finally, under mypyc): every later exception took it as its __context__.
    handled: list[BaseException | None] = []

    async def app(request: Request) -> Response:
        handled.append(sys.exc_info()[1])
        if request.path == "/longer":
            return Response(200, [(b"content-length", b"1")], _chunks(b"a", b"b"))  # type: ignore[arg-type]
        return Response(200, [], b"ok")

    async with serve(app) as server:
        for path in ("/longer", "/next"):
            await exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert handled == [None, None]


async def test_upper_case_header_names_are_refused_naming_the_header(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = await answer_with(lambda: Response(200, [(b"Content-Type", b"text/plain")], b"x"), caplog)
    assert raw.startswith(SERVER_ERROR)
    assert b"Content-Type" not in raw
    assert b"text/plain\r\n" not in raw
    (record,) = errors(caplog)
    assert "header name b'Content-Type' is not lowercase" in record.getMessage()


async def test_upper_case_trailer_and_interim_names_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def trailers() -> list[tuple[bytes, bytes]]:
        return [(b"X-Checksum", b"1")]

    async def app(request: Request) -> Response:
        if request.path == "/interim":
            await request.send_interim(103, [(b"Link", b"</a.css>; rel=preload")])
        return Response(200, body=_chunks(b"data"), trailers=trailers)  # type: ignore[arg-type]

    caplog.set_level(logging.INFO)
    async with serve(app) as server:
        interim = await exchange(server, b"GET /interim HTTP/1.1\r\nHost: x\r\n\r\n")
        trailed = await exchange(server, b"GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n")
    assert interim.startswith(SERVER_ERROR)
    assert b"Link" not in interim
    assert status_of(trailed) == 200
    assert trailed.endswith(b"\r\n4\r\ndata\r\n")  # cut short: no last chunk, no trailer
    messages = [record.getMessage() for record in errors(caplog)]
    assert any("header name b'Link' is not lowercase" in m for m in messages)
    assert any("header name b'X-Checksum' is not lowercase" in m for m in messages)


async def test_send_interim_raises_value_error_for_what_it_cannot_send() -> None:
    caught: list[str] = []

    async def app(request: Request) -> Response:
        for status, fields in (("103", []), (True, []), (103, [(b"Link", b"</a.css>")]), (103, None)):
            try:
                await request.send_interim(status, fields)  # type: ignore[arg-type]
            except ValueError as error:
                caught.append(str(error))
        return Response(200, body=b"ok")

    async with serve(app) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")  # nothing of the refused interim responses was sent
    assert caught == [
        "send_interim takes a 1xx status other than 101, not '103'",
        "send_interim takes a 1xx status other than 101, not True",
        "header name b'Link' is not lowercase",
        "fields None are not a sequence of (name, value) tuples",
    ]


async def test_an_int_enum_status_is_an_int() -> None:
    async def app(request: Request) -> Response:
        return Response(http.HTTPStatus.CREATED, body=b"x")

    async with serve(app) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 201 Created\r\n")


async def test_unregistered_status_codes_within_100_to_599_are_sent() -> None:
    async def app(request: Request) -> Response:
        return Response(599, body=b"x")

    async with serve(app) as server:
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 599 \r\n")


async def test_a_stream_failing_after_its_head_went_out_is_cut_short_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def later() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.sleep(0.01)
        raise RuntimeError("the second chunk failed")

    raw = await answer_with(lambda: Response(200, [], later()), caplog)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked\r\n" in raw
    assert raw.endswith(b"\r\n\r\n5\r\nfirst\r\n")  # no last chunk: the client sees the truncation
    (record,) = errors(caplog)
    assert isinstance(record.exc_info and record.exc_info[1], RuntimeError)
    assert access_lines(caplog)[0].endswith('"GET /first HTTP/1.1" 200 (aborted)')


async def test_a_stream_failing_before_its_first_chunk_after_waiting_is_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def waits_then_fails() -> AsyncIterator[bytes]:
        await asyncio.sleep(0.01)  # the head has gone out meanwhile (an event stream's client sees it)
        no_parts: tuple[bytes, ...] = ()
        for part in no_parts:
            yield part
        raise RuntimeError("no data after all")

    raw = await answer_with(lambda: Response(200, [], waits_then_fails()), caplog)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\n")
    assert len(errors(caplog)) == 1
    assert access_lines(caplog)[0].endswith(" 200 (aborted)")


async def test_a_length_delimited_stream_that_ends_early_is_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def short() -> AsyncIterator[bytes]:
        yield b"abc"
        await asyncio.sleep(0.01)

    raw = await answer_with(lambda: Response(200, [(b"content-length", b"10")], short()), caplog)
    assert raw.endswith(b"\r\n\r\nabc")  # fewer bytes than announced, then the close
    assert "shorter than its content-length" in errors(caplog)[0].getMessage()
    assert access_lines(caplog)[0].endswith(" 200 (aborted)")


async def test_a_close_delimited_stream_that_fails_is_reset(caplog: pytest.LogCaptureFixture) -> None:
    async def later() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.sleep(0.05)
        raise RuntimeError("the second chunk failed")

    async def app(request: Request) -> Response:
        return Response(200, [], later())

    async with serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        received = bytearray()

        async def read_all() -> None:
            while data := await asyncio.wait_for(reader.read(65536), TIMEOUT):
                received.extend(data)

        with pytest.raises(ConnectionResetError):  # a clean close would look like the complete content
            await read_all()
        writer.close()
    assert received.endswith(b"\r\n\r\nfirst")
    assert len(errors(caplog)) == 1


async def test_trailers_of_the_wrong_shape_cut_the_response_short(caplog: pytest.LogCaptureFixture) -> None:
    async def no_fields() -> None:
        return None

    raw = await answer_with(lambda: Response(200, [], b"data", trailers=no_fields), caplog)  # type: ignore[arg-type]
    assert raw.endswith(b"\r\n\r\n4\r\ndata\r\n")
    assert "fields None are not a sequence" in errors(caplog)[0].getMessage()
    assert access_lines(caplog)[0].endswith(" 200 (aborted)")


async def test_trailers_are_not_asked_for_when_they_cannot_be_sent() -> None:
    asked: list[str] = []

    async def trailers() -> list[tuple[bytes, bytes]]:
        asked.append("called")
        return [(b"x-t", b"1")]

    async def app(request: Request) -> Response:
        return Response(200, body=b"data", trailers=trailers)

    async with serve(app) as server:
        await exchange(server, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await exchange(server, b"GET / HTTP/1.0\r\n\r\n")
        assert asked == []  # pyre spec PYRE-RESP-15
        raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert asked == ["called"]
    assert raw.endswith(b"4\r\ndata\r\n0\r\nx-t: 1\r\n\r\n")


async def test_a_content_length_that_disagrees_with_bytes_is_logged_and_the_true_length_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(request: Request) -> Response:
        return Response(200, [(b"content-length", b"99")], b"abc")

    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET /wrong?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = await client.reply()
    assert (reply.status, reply.all(b"content-length"), reply.body) == (200, [b"3"], b"abc")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        "The response to GET /wrong?q=1 declares content-length 99 but has 3 bytes; sent with 3"
    )


async def test_a_content_length_that_disagrees_with_a_file_is_logged_and_the_true_length_sent(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")

    async def app(request: Request) -> Response:
        return Response(200, [(b"content-length", b"5")], FileBody(path=path))

    async with serve(app) as server, connect(server) as client:
        await client.send(GET)
        reply = await client.reply()
    assert (reply.all(b"content-length"), reply.body) == ([b"10"], b"0123456789")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "declares content-length 5 but has 10 bytes" in warning.getMessage()


@pytest.mark.parametrize(("request_line", "status"), [(b"HEAD / HTTP/1.1", 200), (b"GET / HTTP/1.1", 304)])
async def test_head_and_304_keep_the_apps_content_length_without_a_warning(
    request_line: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(request: Request) -> Response:
        return Response(status, [(b"content-length", b"1000")], b"")

    async with serve(app) as server, connect(server) as client:
        await client.send(request_line + b"\r\nHost: x\r\n\r\n")
        reply = await client.reply(head=True)
    assert reply.all(b"content-length") == [b"1000"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_file_body_is_closed_when_no_content_is_sent(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")

    async def app(request: Request) -> Response:
        if request.path == "/fd":
            return Response(200, body=FileBody(fd=os.open(path, os.O_RDONLY)))
        if request.path == "/bad-headers":
            return Response(200, None, FileBody(path=path))  # type: ignore[arg-type]
        return Response(304 if request.path == "/304" else 200, body=FileBody(path=path))

    async with serve(app) as server, connect(server) as client:
        baseline = open_fds()
        for request_line in (b"HEAD / HTTP/1.1", b"GET /304 HTTP/1.1", b"HEAD /fd HTTP/1.1") * 5:
            await client.send(request_line + b"\r\nHost: x\r\n\r\n")
            await client.reply(head=True)
        assert await fds_settle(baseline) == baseline
        assert status_of(await exchange(server, b"GET /bad-headers HTTP/1.1\r\nHost: x\r\n\r\n")) == 500
        assert await fds_settle(baseline) == baseline


async def test_a_file_region_beyond_the_end_is_a_500(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")
    raw = await answer_with(lambda: Response(200, [], FileBody(path=path, offset=5, count=10)), caplog)
    assert raw.startswith(SERVER_ERROR)
    assert "FileBody region lies beyond the end of the file" in errors(caplog)[0].getMessage()


async def test_the_access_log_has_a_line_when_the_server_answered_for_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(request: Request) -> Response:
        await request.body.read()
        return Response(200, body=b"never sent")

    caplog.set_level(logging.INFO)
    async with serve(app, access_log=True) as server:
        raw = await exchange(
            server,
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n",
        )
        await asyncio.sleep(0.05)
    assert status_of(raw) == 400
    (line,) = access_lines(caplog)
    assert line.endswith('"POST /upload HTTP/1.1" 400')


async def test_malformed_answers_leave_no_connection_open(caplog: pytest.LogCaptureFixture) -> None:
    shapes = [make for make, _ in BEFORE_THE_RESPONSE.values()]

    async def app(request: Request) -> Response:
        return shapes[int(request.path[1:])]()  # type: ignore[no-any-return]

    caplog.set_level(logging.CRITICAL)
    async with serve(app) as server:
        baseline = open_fds()
        replies = await asyncio.gather(
            *(exchange(server, b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n) for n in range(len(shapes)))
        )
        assert all(status_of(raw) == 500 for raw in replies)
        assert await fds_settle(baseline) == baseline
        assert not server._shared.connections  # type: ignore[union-attr]


async def test_a_body_that_will_never_be_sent_is_released(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An async iterator is closed (its finally runs) and an app-opened descriptor is
    # closed, however the answer is wrong: headers, status or trailers.
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")
    closed: list[str] = []

    class Stream:
        """pyre-asgi's kind of body: an iterator whose ``aclose`` tells the app no one reads."""

        def __init__(self, name: str) -> None:
            self.name = name

        def __aiter__(self) -> Stream:
            return self

        async def __anext__(self) -> bytes:
            return b"never sent"

        async def aclose(self) -> None:
            closed.append(self.name)

    stream = Stream

    answers: dict[str, Callable[[], Response]] = {
        "/stream-headers": lambda: Response(200, [(b"X-Upper", b"v")], stream("headers")),
        "/stream-status": lambda: Response("200", [], stream("status")),  # type: ignore[arg-type]
        "/stream-trailers": lambda: Response(200, [], stream("trailers"), trailers=42),  # type: ignore[arg-type]
        "/fd-headers": lambda: Response(200, None, FileBody(fd=opened())),  # type: ignore[arg-type]
        "/fd-status": lambda: Response(600, [], FileBody(fd=opened())),
    }
    descriptors: list[int] = []

    def opened() -> int:
        descriptors.append(os.open(path, os.O_RDONLY))
        return descriptors[-1]

    def still_open(fd: int) -> bool:
        # The number may have been reused since: open means open on this very file.
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except FileNotFoundError:
            return False

    async def app(request: Request) -> Response:
        return answers[request.path]()

    caplog.set_level(logging.INFO)
    async with serve(app) as server:
        for target in answers:
            raw = await exchange(server, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
            assert raw.startswith(SERVER_ERROR), target
    assert len(descriptors) == 2
    assert not [fd for fd in descriptors if still_open(fd)], "an app-opened descriptor was left open"
    assert sorted(closed) == ["headers", "status", "trailers"]
