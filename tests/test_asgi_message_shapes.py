"""Every shape of ASGI response message on a real pyre-server process, against uvicorn.

The ASGI spec types response headers as "an iterable of ``[name, value]``
two-item iterables" of byte strings and lets an app send bytes-like bodies;
``asgi_apps.shapes`` answers in each such shape, and pyre (through
``from_asgi``) must answer exactly as uvicorn does.  Malformed messages must
become a logged 500 while nothing has been sent, and an abort once part of the
response is out: never a hang, never a silent fix.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from asgi_apps.servers import Reply, Running, serve
from asgi_apps.shapes import ALLOWED, BROKEN, BROKEN_BODIES

APP = "asgi_apps.shapes:app"


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Running]]:
    logs = tmp_path_factory.mktemp("logs")
    running: dict[str, Running] = {}
    with ExitStack() as stack:

        def get(server: str) -> Running:
            if server not in running:
                running[server] = stack.enter_context(serve(server, APP, logs))
            return running[server]

        yield get


# Framing aside: uvicorn chunks a body it was given whole and without a length, pyre counts it.
UNCOMPARED = ("date", "server", "content-length", "transfer-encoding")


def comparable(reply: Reply) -> tuple[object, ...]:
    headers = sorted((name, value) for name, value in reply.headers if name not in UNCOMPARED)
    return reply.status, headers, reply.body


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or 30 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(data)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize("shape", list(ALLOWED))
def test_allowed_shape_is_answered_as_uvicorn_answers_it(
    started: Callable[[str], Running], shape: str
) -> None:
    reference = started("uvicorn").request("GET", f"/ok/{shape}")
    answer = started("pyre").request("GET", f"/ok/{shape}")
    assert reference.status in (200, 201)
    assert comparable(answer) == comparable(reference)


def test_header_names_go_out_lowercased(started: Callable[[str], Running]) -> None:
    reply = raw_exchange(
        started("pyre").port, b"GET /ok/upper-case-names HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    head = reply.partition(b"\r\n\r\n")[0]
    assert b"\r\nx-shape: Upper\r\n" in head
    assert b"\r\ncontent-type: text/plain\r\n" in head


# What the log must say about each malformed message.
COMPLAINTS = {
    "status-str": "'http.response.start' message: status '200' is not a final status code",
    "status-600": "'http.response.start' message: status 600 is not a final status code",
    "status-103": "'http.response.start' message: status 103 is not a final status code",
    "status-missing": "'http.response.start' message: status None is not a final status code",
    "headers-3-tuple": "'http.response.start' message: header (b'a', b'b', b'c') is not a [name, value] pair",
    "headers-str": "'http.response.start' message: header ('content-type', 'text/plain') is not a [name,",
    "headers-none": "'http.response.start' message: headers None are not an iterable",
    "header-int-value": "'http.response.start' message: header (b'x-count', 5) is not a [name, value] pair",
    "header-line": "'http.response.start' message: header b'x-a: v' is not a [name, value] pair",
    "unknown-type": "unexpected ASGI message 'http.response.bogus'",
    "body-str": "'http.response.body' message: body 'text' is not a byte string",
    "body-int": "'http.response.body' message: body 5 is not a byte string",
    "body-none": "'http.response.body' message: body None is not a byte string",
}


def logged(running: Running, text: str) -> bool:
    """Whether the server's log has ``text``, waiting a little for it to reach the file."""
    for _ in range(100):
        if text in running.log.read_text(errors="replace"):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("shape", [*BROKEN, *BROKEN_BODIES])
def test_malformed_message_is_a_logged_500(started: Callable[[str], Running], shape: str) -> None:
    running = started("pyre")
    reply = running.request("GET", f"/bad/{shape}")
    assert reply.status == 500
    assert reply.body == b"Internal Server Error: the application failed\n"
    assert logged(running, COMPLAINTS[shape])


def test_malformed_response_does_not_stall_the_connection(started: Callable[[str], Running]) -> None:
    # A malformed response with a request pipelined behind it: a 500, then the connection closes.
    pipelined = [
        b"GET /bad/headers-3-tuple HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /ok/list-headers HTTP/1.1\r\nHost: t\r\n\r\n",
    ]
    received = raw_exchange(started("pyre").port, b"".join(pipelined))
    assert received.startswith(b"HTTP/1.1 500 ")
    assert b"connection: close" in received.partition(b"\r\n\r\n")[0]


def test_refused_head_of_an_endless_stream_is_a_500(started: Callable[[str], Running]) -> None:
    running = started("pyre")
    reply = running.request("GET", "/refused-head/")
    assert reply.status == 500
    assert logged(running, "has CR, LF or NUL in its value")


@pytest.mark.parametrize("shape", list(BROKEN_BODIES))
def test_malformed_body_after_bytes_are_out_aborts(started: Callable[[str], Running], shape: str) -> None:
    received = raw_exchange(started("pyre").port, f"GET /late/{shape} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    head, _, content = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"first part" in content
    assert not content.endswith(b"0\r\n\r\n")  # no last-chunk: the client can tell the body is cut short


def test_message_after_the_response_is_logged_and_ignored(started: Callable[[str], Running]) -> None:
    running = started("pyre")
    reply = running.request("GET", "/bad/after-complete")
    assert (reply.status, reply.body) == (200, b"complete")
    assert logged(running, "'http.response.body' after its response was complete; ignored")


def test_error_after_a_complete_response_keeps_the_apps_page(started: Callable[[str], Running]) -> None:
    # Starlette's ServerErrorMiddleware sends its page and re-raises: uvicorn keeps the page.
    reference = started("uvicorn").request("GET", "/error-page")
    running = started("pyre")
    answer = running.request("GET", "/error-page")
    assert (answer.status, answer.body) == (500, b"our own error page")
    assert comparable(answer) == comparable(reference)
    assert logged(running, "RuntimeError: the bug behind the error page")
    assert logged(running, "Exception in ASGI application after its response was complete")


@pytest.mark.parametrize("server", ["uvicorn", "pyre"])
def test_head_lets_a_streaming_app_finish(started: Callable[[str], Running], server: str) -> None:
    running = started(server)
    entry = f"head-{server}"
    # The client stays connected after the HEAD response (a second request follows on the
    # same connection): the app must run to its end, not be cancelled.
    received = raw_exchange(
        running.port,
        f"HEAD /head/{entry} HTTP/1.1\r\nHost: t\r\n\r\n"
        "GET /head-log/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(),
    )
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1 200 ") == 2
    assert b"part 0" not in received
    # The app's work after the response may end after the client has it: ask until it shows.
    for _ in range(200):
        log = running.request("GET", "/head-log/").body.decode()
        if entry in log:
            break
    assert f"{entry}: finished" in log
