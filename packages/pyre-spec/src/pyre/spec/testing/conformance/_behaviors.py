"""Conformance cases run against the canonical apps: the interface as seen from the wire.

Each check coordinates with its app through HTTP only (``/_control`` routes), and
never measures time: where it must wait, a timeout turns a hang into a failure.
"""

from __future__ import annotations

from collections.abc import Callable

from ..._application import Application
from . import apps
from ._cases import Case, Context, new_key
from ._client import ConnectionClosed, WireClient

BEHAVIORS: list[Case] = []

_HOST = "conformance.test"


def behavior(
    assertion: str, name: str, *, level: str, section: str, app: Application
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a check; its docstring is the case summary."""

    def register(check: Callable[[Context], None]) -> Callable[[Context], None]:
        summary = " ".join((check.__doc__ or "").split())
        BEHAVIORS.append(Case(assertion, name, level, section, summary, app, check))
        return check

    return register


def head(method: str, target: str, *fields: str, version: str = "1.1") -> bytes:
    """A request head with a Host field and the given extra field lines."""
    lines = [f"{method} {target} HTTP/{version}", f"Host: {_HOST}", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(context: Context, app: Application, key: str, value: str = "go") -> None:
    response = context.exchange(app, head("GET", f"/_control/post?id={key}&value={value}"))
    assert response.status == 200, f"control post failed: {response}"


def posted(context: Context, app: Application, key: str) -> str:
    """What the app posted under ``key``; waits for it, bounded by the apps' control timeout."""
    response = context.exchange(app, head("GET", f"/_control/wait?id={key}"))
    assert response.status == 200, f"the app never reported {key!r} (control wait got {response.status})"
    return response.body.decode()


def expect_reusable(client: WireClient) -> None:
    """The connection still carries a request and its response, parsed from a clean boundary."""
    client.send(head("GET", "/_control/post?id=reuse"))
    try:
        response = client.read_response()
    except ConnectionClosed:
        raise AssertionError("the server closed a connection that should persist") from None
    assert response.status == 200, f"the next request on the connection got {response.status}"
    assert response.body == b"posted", f"the next response is not the expected one: {response.body[:100]!r}"


def expect_closed(client: WireClient) -> None:
    rest = client.read_until_close()
    assert not rest, f"the server sent more after the response instead of closing: {rest[:100]!r}"


# -- response framing (pyre-spec section 6.5) ------------------------------


@behavior("PYRE-FRAME-1", "bytes-content-length", level="MUST", section="6.5", app=apps.responses)
def _bytes_content_length(context: Context) -> None:
    """A bytes body is sent with Content-Length."""
    response = context.exchange(apps.responses, head("GET", "/bytes"))
    assert response.framing == "length", response.framing
    assert response.body == b"hello, world\n"


@behavior("PYRE-FRAME-1", "stream-chunked", level="MUST", section="6.5", app=apps.streaming)
def _stream_chunked(context: Context) -> None:
    """A streamed body to an HTTP/1.1 client is sent with chunked coding."""
    with context.connect(apps.streaming) as client:
        client.send(head("GET", "/chunks?n=3"))
        response = client.read_response()
        assert response.framing == "chunked", response.framing
        assert response.complete
        assert response.body == b"chunk-0\nchunk-1\nchunk-2\n"
        expect_reusable(client)


@behavior("PYRE-FRAME-1", "stream-http10-close-delimited", level="MUST", section="6.5", app=apps.streaming)
def _stream_http10(context: Context) -> None:
    """A streamed body to an HTTP/1.0 client is delimited by closing the connection."""
    with context.connect(apps.streaming) as client:
        client.send(head("GET", "/chunks?n=4", version="1.0"))
        response = client.read_response()
        assert response.framing == "close", f"HTTP/1.0 got {response.framing} framing"
        assert response.body == b"chunk-0\nchunk-1\nchunk-2\nchunk-3\n"


@behavior("PYRE-FRAME-1", "file-content-length", level="MUST", section="6.5", app=apps.responses)
def _file_content_length(context: Context) -> None:
    """A FileBody is sent with Content-Length."""
    response = context.exchange(apps.responses, head("GET", "/file"))
    assert response.framing == "length", response.framing


@behavior("PYRE-FRAME-4", "stream-with-app-length", level="MUST", section="6.5", app=apps.streaming)
def _stream_with_length(context: Context) -> None:
    """A stream with an app content-length is sent identity-coded with that length."""
    with context.connect(apps.streaming) as client:
        client.send(head("GET", "/with-length"))
        response = client.read_response()
        assert response.framing == "length", response.framing
        assert response.header_all("content-length") == ["10"]
        assert response.body == b"0123456789"
        expect_reusable(client)


@behavior("PYRE-FRAME-5", "app-transfer-encoding-removed", level="MUST", section="6.5", app=apps.unchecked)
def _app_te_removed(context: Context) -> None:
    """An app transfer-encoding field is replaced by the server's own framing."""
    with context.connect(apps.unchecked) as client:
        client.send(head("GET", "/app-te"))
        response = client.read_response()
        assert len(response.header_all("transfer-encoding")) <= 1, response.headers
        assert response.body == b"framed once"
        expect_reusable(client)


@behavior("PYRE-FRAME-6", "app-connection-close", level="MUST", section="6.5", app=apps.responses)
def _app_connection_close(context: Context) -> None:
    """An app connection: close is sent and the server closes after the response."""
    with context.connect(apps.responses) as client:
        client.send(head("GET", "/close"))
        response = client.read_response()
        assert "close" in response.connection_tokens(), response.headers
        assert response.body == b"closing"
        expect_closed(client)


@behavior("PYRE-FRAME-7", "head-no-body", level="MUST", section="6.5", app=apps.responses)
def _head_no_body(context: Context) -> None:
    """No content follows a response to HEAD; the connection goes on at the next request."""
    with context.connect(apps.responses) as client:
        client.send(head("HEAD", "/bytes"))
        response = client.read_response("HEAD")
        assert response.status == 200
        expect_reusable(client)


@behavior("PYRE-FRAME-7", "head-stream-no-body", level="MUST", section="6.5", app=apps.streaming)
def _head_stream_no_body(context: Context) -> None:
    """No content (not even a last-chunk) follows a HEAD response with a streamed body."""
    with context.connect(apps.streaming) as client:
        client.send(head("HEAD", "/chunks?n=2"))
        response = client.read_response("HEAD")
        assert response.status == 200
        expect_reusable(client)


@behavior("PYRE-FRAME-9", "head-content-length", level="SHOULD", section="6.5", app=apps.responses)
def _head_content_length(context: Context) -> None:
    """HEAD gets the content-length a GET would have had."""
    response = context.exchange(apps.responses, head("HEAD", "/bytes"), method="HEAD")
    assert response.header_all("content-length") == ["13"], response.headers


@behavior("PYRE-FRAME-8", "head-keeps-app-length", level="MUST", section="6.5", app=apps.streaming)
def _head_keeps_app_length(context: Context) -> None:
    """The app's content-length is kept in a HEAD response."""
    response = context.exchange(apps.streaming, head("HEAD", "/with-length"), method="HEAD")
    assert response.header_all("content-length") == ["10"], response.headers


@behavior("PYRE-FRAME-7", "204-no-body", level="MUST", section="6.5", app=apps.responses)
def _no_body_204(context: Context) -> None:
    """A 204 response carries no content even when the app gave some."""
    with context.connect(apps.responses) as client:
        client.send(head("GET", "/204"))
        response = client.read_response()
        assert response.status == 204
        assert response.header("x-app") == "no-content"
        expect_reusable(client)


@behavior("PYRE-FRAME-8", "204-no-framing-fields", level="MUST", section="6.5", app=apps.responses)
def _no_framing_204(context: Context) -> None:
    """A 204 response has neither content-length nor transfer-encoding."""
    response = context.exchange(apps.responses, head("GET", "/204"))
    assert response.header("content-length") is None, response.headers
    assert response.header("transfer-encoding") is None, response.headers


@behavior("PYRE-FRAME-7", "304-no-body", level="MUST", section="6.5", app=apps.responses)
def _no_body_304(context: Context) -> None:
    """A 304 response carries no content."""
    with context.connect(apps.responses) as client:
        client.send(head("GET", "/304"))
        response = client.read_response()
        assert response.status == 304
        assert response.header("etag") == '"v1"'
        expect_reusable(client)


@behavior("PYRE-FRAME-10", "date", level="MUST", section="6.5", app=apps.responses)
def _date(context: Context) -> None:
    """The server sends a Date field (RFC 9110 section 6.6.1)."""
    for target in ("/bytes", "/status?code=404"):
        response = context.exchange(apps.responses, head("GET", target))
        assert len(response.header_all("date")) == 1, f"{target}: {response.headers}"


@behavior("PYRE-FRAME-12", "empty-stream", level="MUST", section="6.5", app=apps.streaming)
def _empty_stream(context: Context) -> None:
    """A stream that yields nothing is an empty, well-framed body."""
    with context.connect(apps.streaming) as client:
        client.send(head("GET", "/empty"))
        response = client.read_response()
        assert response.body == b""
        assert response.complete
        expect_reusable(client)


# -- response bodies (6.4, 6.6, 6.7, 6.8) ----------------------------------


@behavior("PYRE-RESP-13", "chunk-sent-before-stream-ends", level="SHOULD", section="6.4", app=apps.streaming)
def _chunk_not_held(context: Context) -> None:
    """A chunk reaches the client while the app's stream is still waiting for the next one."""
    key = new_key()
    with context.connect(apps.streaming) as client:
        client.send(head("GET", f"/gated?id={key}"))
        response = client.read_head()
        assert response.status == 200
        assert client.read_chunk() == b"first\n", "the first chunk did not arrive before the stream ended"
        post(context, apps.streaming, key)
        assert client.read_chunk() == b"second\n"
        assert client.read_chunk() == b""
        assert client.read_fields() is not None


@behavior("PYRE-RESP-12", "large-bytes-body", level="MUST", section="6.4", app=apps.responses)
def _large_body(context: Context) -> None:
    """A 1 MiB bytes body arrives whole."""
    response = context.exchange(apps.responses, head("GET", "/big"))
    assert response.body == bytes(range(256)) * 4096


def _file_bytes(offset: int = 0, count: int | None = None) -> bytes:
    with open(apps.FILE_PATH, "rb") as file:
        file.seek(offset)
        return file.read() if count is None else file.read(count)


@behavior("PYRE-RESP-18", "file-path", level="MUST", section="6.7", app=apps.responses)
def _file_path(context: Context) -> None:
    """A FileBody by path sends the whole file."""
    response = context.exchange(apps.responses, head("GET", "/file"))
    assert response.body == _file_bytes()


@behavior("PYRE-RESP-18", "file-range", level="MUST", section="6.7", app=apps.responses)
def _file_range(context: Context) -> None:
    """A FileBody region sends count bytes from offset."""
    response = context.exchange(apps.responses, head("GET", "/file-range"))
    assert response.body == _file_bytes(10, 100)
    assert response.header("content-length") == "100"


@behavior("PYRE-RESP-18", "file-fd", level="MUST", section="6.7", app=apps.responses)
def _file_fd(context: Context) -> None:
    """A FileBody by descriptor sends from offset to the end of the file."""
    response = context.exchange(apps.responses, head("GET", "/file-fd"))
    assert response.body == _file_bytes(5)


@behavior("PYRE-RESP-15", "response-trailers", level="MUST", section="6.6", app=apps.trailers)
def _response_trailers(context: Context) -> None:
    """Response trailers follow the last chunk."""
    response = context.exchange(apps.trailers, head("GET", "/send", "TE: trailers"))
    assert response.framing == "chunked", response.framing
    assert response.body == b"with trailers"
    assert response.trailer("x-checksum") == "c0ffee", response.trailers


@behavior("PYRE-RESP-21", "early-hints", level="MUST", section="6.8", app=apps.responses)
def _early_hints(context: Context) -> None:
    """A 103 sent by the app precedes the final response (when the server advertises pyre.early_hints)."""
    response = context.exchange(apps.responses, head("GET", "/early-hints"))
    assert response.status == 200
    if response.body == b"hinted":
        assert [status for status, _ in response.interim] == [103], response.interim
        fields = dict(response.interim[0][1])
        assert fields.get(b"link") == b"</style.css>; rel=preload; as=style", fields
    else:
        assert all(status == 103 for status, _ in response.interim), response.interim


@behavior("PYRE-RESP-22", "interim-dropped-for-http10", level="MUST", section="6.8", app=apps.responses)
def _early_hints_http10(context: Context) -> None:
    """No interim response goes to an HTTP/1.0 client."""
    response = context.exchange(apps.responses, head("GET", "/early-hints", version="1.0"))
    assert response.status == 200
    assert response.interim == [], response.interim


# -- request bodies (5.5 - 5.7) and trailers (4.4) -------------------------


@behavior("PYRE-BODY-9", "upload-backpressure", level="MUST", section="5.5", app=apps.slow_consumer)
def _backpressure(context: Context) -> None:
    """While the app reads nothing, the server stops taking the upload; it resumes when the app reads."""
    key = new_key()
    limit = 64 * 1024 * 1024
    with context.connect(apps.slow_consumer) as client:
        client.sendall(head("POST", f"/upload?id={key}", "Transfer-Encoding: chunked"))
        chunk = b"%x\r\n%s\r\n" % (65536, b"u" * 65536)
        sent = client.send_until_blocked(chunk * 16, limit, quiet=1.0)
        assert sent < limit, f"the server took {sent} bytes while the app read none: it buffers without bound"
        post(context, apps.slow_consumer, key)
        whole, partial = divmod(sent, len(chunk))
        try:
            client.sendall((chunk[partial:] if partial else b"") + b"0\r\n\r\n")
            response = client.read_response()
        except (ConnectionClosed, OSError):
            return  # a server whose body limit is below what the kernel buffered may reset
        assert response.status in (200, 413), response
        if response.status == 200 and not response.json()["too_large"]:
            expected = (whole + (1 if partial else 0)) * 65536
            assert response.json()["read"] == expected, response.json()


@behavior("PYRE-BODY-10", "continue-on-first-read", level="MUST", section="5.6", app=apps.expect_continue)
def _continue_on_read(context: Context) -> None:
    """100 Continue comes when the app reads, and the body follows it."""
    with context.connect(apps.expect_continue) as client:
        client.send(head("POST", "/read", "Expect: 100-continue", "Content-Length: 5"))
        interim = client.read_head()
        assert interim.status == 100, f"expected 100 Continue first, got {interim.status}"
        client.send(b"hello")
        response = client.read_response()
        assert response.status == 200
        assert response.interim == [], "100 Continue was sent twice"
        assert response.body == b"hello"


@behavior(
    "PYRE-BODY-12", "no-continue-when-body-ignored", level="MUST", section="5.6", app=apps.expect_continue
)
def _no_continue_when_ignored(context: Context) -> None:
    """An app that answers without reading gets no 100 Continue sent on its behalf."""
    with context.connect(apps.expect_continue) as client:
        client.send(head("POST", "/ignore", "Expect: 100-continue", "Content-Length: 5"))
        response = client.read_response()
        assert response.interim == [], f"interim responses {response.interim} before the final one"
        assert response.body == b"ignored the body"


@behavior(
    "PYRE-BODY-13", "unread-body-not-a-request", level="SHOULD", section="5.6", app=apps.expect_continue
)
def _unread_body_after_ignore(context: Context) -> None:
    """After answering without the body, the server closes or discards it: it never parses it."""
    with context.connect(apps.expect_continue) as client:
        client.send(head("POST", "/ignore", "Expect: 100-continue", "Content-Length: 18"))
        client.read_response()
        try:
            client.sendall(b"GET /x HTTP/1.1\r\n\r")
            client.send(head("GET", "/_control/post?id=after"))
            response = client.read_response()
        except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
            return
        assert response.body == b"posted", f"the unread body was parsed as a request: {response}"


@behavior("PYRE-BODY-11", "no-continue-for-http10", level="MUST", section="5.6", app=apps.expect_continue)
def _no_continue_http10(context: Context) -> None:
    """An HTTP/1.0 client never gets 100 Continue."""
    with context.connect(apps.expect_continue) as client:
        client.send(
            head("POST", "/read", "Expect: 100-continue", "Content-Length: 5", version="1.0") + b"hello"
        )
        response = client.read_response()
        assert response.interim == [], response.interim
        assert response.body == b"hello"


@behavior("PYRE-HDR-7", "request-trailers", level="MUST", section="4.4", app=apps.trailers)
def _request_trailers(context: Context) -> None:
    """Request trailers are None before the body is read, then hold the trailer section."""
    request = head("POST", "/echo", "Transfer-Encoding: chunked", "TE: trailers")
    response = context.exchange(apps.trailers, request + b"4\r\ndata\r\n0\r\nX-Sum: 42\r\n\r\n")
    assert response.status == 200, response
    report = response.json()
    assert report["before"] is None, report
    assert report["body"] == "data"
    assert report["trailers"] == [["x-sum", "42"]], report


@behavior("PYRE-HDR-7", "empty-trailers", level="MUST", section="4.4", app=apps.trailers)
def _empty_trailers(context: Context) -> None:
    """Without a trailer section, trailers become an empty Headers once the body is read."""
    response = context.exchange(apps.trailers, head("POST", "/echo", "Content-Length: 2") + b"ok")
    assert response.json()["trailers"] == []


@behavior("PYRE-REQ-17", "wait-disconnected", level="MUST", section="3.6", app=apps.disconnect)
def _wait_disconnected(context: Context) -> None:
    """wait_disconnected() returns when the client closes, and disconnected is then true."""
    key = new_key()
    with context.connect(apps.disconnect) as client:
        client.send(head("GET", f"/wait?id={key}"))
    assert posted(context, apps.disconnect, key) == "disconnected=True"


@behavior("PYRE-BODY-14", "truncated-body-raises", level="MUST", section="5.7", app=apps.disconnect)
def _truncated_body(context: Context) -> None:
    """A client that leaves mid-body makes the app's read raise ClientDisconnected."""
    key = new_key()
    with context.connect(apps.disconnect) as client:
        client.send(head("POST", f"/read?id={key}", "Content-Length: 100") + b"only part of it")
    assert posted(context, apps.disconnect, key) == "ClientDisconnected"


@behavior("PYRE-ERR-4", "stream-closed-on-disconnect", level="MUST", section="8.2", app=apps.disconnect)
def _stream_closed(context: Context) -> None:
    """When the client leaves during a streamed response, the server stops and closes the stream."""
    key = new_key()
    with context.connect(apps.disconnect) as client:
        client.send(head("GET", f"/stream?id={key}"))
        assert client.read_head().status == 200
    assert posted(context, apps.disconnect, key) == "stream closed"


# -- errors (section 8) ------------------------------------------------------


@behavior("PYRE-ERR-1", "500-without-details", level="MUST", section="8.1", app=apps.errors)
def _error_500(context: Context) -> None:
    """An exception before the response is answered 500, with no exception text or traceback."""
    response = context.exchange(apps.errors, head("GET", "/raise"))
    assert response.status == 500, response
    assert b"conformance-secret" not in response.body, response.body
    assert b"Traceback" not in response.body, response.body


@behavior("PYRE-ERR-2", "abort-mid-stream", level="MUST", section="8.1", app=apps.errors)
def _error_mid_stream(context: Context) -> None:
    """An exception while streaming aborts the connection: the body is left incomplete."""
    with context.connect(apps.errors) as client:
        client.send(head("GET", "/raise-mid-stream"))
        response = client.read_response()
        assert response.status == 200
        assert not response.complete, "the server ended the chunked body as if the stream had succeeded"
        assert b"conformance-secret" not in response.body


@behavior("PYRE-ERR-2", "abort-with-length", level="MUST", section="8.1", app=apps.errors)
def _error_with_length(context: Context) -> None:
    """An exception while streaming with a content-length closes the connection short of it."""
    with context.connect(apps.errors) as client:
        client.send(head("GET", "/raise-with-length"))
        response = client.read_response()
        assert not response.complete, "the server padded the body to its content-length"


@behavior("PYRE-ERR-7", "server-survives-app-errors", level="MUST", section="8.3", app=apps.errors)
def _survives(context: Context) -> None:
    """After application errors, the server still answers new connections."""
    for target in ("/raise", "/raise-mid-stream"):
        with context.connect(apps.errors) as client:
            client.send(head("GET", target))
            try:
                client.read_response()
            except ConnectionClosed:
                pass
    response = context.exchange(apps.errors, head("GET", "/_control/post?id=alive"))
    assert response.status == 200


# -- lifespan (section 7) ------------------------------------------------------


@behavior("PYRE-REQ-13", "lifespan-state", level="MUST", section="3.5", app=apps.lifespan)
def _lifespan_state(context: Context) -> None:
    """request.state is the mapping lifespan startup filled, shared by every request."""
    with context.fresh_server(apps.lifespan) as address:
        counts = []
        for _ in range(3):
            with WireClient(address, context.timeout) as client:
                client.send(head("GET", "/"))
                report = client.read_response().json()
            assert report["started_by"], f"startup state missing: {report}"
            counts.append(report["requests"])
    assert counts == [1, 2, 3], f"state was not shared across requests: {counts}"


@behavior(
    "PYRE-LIFE-6", "failed-startup-does-not-serve", level="MUST", section="7.3", app=apps.failing_lifespan
)
def _failed_startup(context: Context) -> None:
    """A lifespan whose startup raises makes the server fail to start."""
    error = context.start_fails(apps.failing_lifespan)
    assert error is not None, "the server started although the app's lifespan startup raised"
