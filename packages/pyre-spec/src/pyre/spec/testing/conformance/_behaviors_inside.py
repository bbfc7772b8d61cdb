"""Conformance cases decided inside the application: what it sees of the server, and what it breaks.

The app (``apps.inside``) reports what only code running in the server can
observe (its context variables, its addresses, whether its task was cancelled,
whether its file descriptor was closed), and returns what an application must
not (an injected header field, an invalid interim status) so that the case
observes the server's own check.  Each check fails with the reason at once,
never only by a timeout: where the app must report, it always does.
"""

from __future__ import annotations

from . import apps
from ._behaviors import behavior, expect_reusable, head, posted
from ._cases import Context, new_key
from ._client import ConnectionClosed, WireClient, WireResponse

_APP = apps.inside

# -- the response is the app's, its checking the server's (PYRE-RESP-7) ------------------------

_INVALID = {
    "header-value-crlf": "a CR LF in a field value (header injection)",
    "header-value-lf": "a bare LF in a field value",
    "header-value-nul": "a NUL in a field value",
    "header-name-crlf": "a CR LF in a field name",
    "header-name-uppercase": "an upper-case letter in a field name",
    "header-name-empty": "an empty field name",
    "header-str": "a field given as str, not bytes",
    "headers-not-a-sequence": "headers given as a dict",
    "status-out-of-range": "status 600",
    "status-not-int": 'status "200", a str',
}


def _refused(what: str, description: str) -> None:
    def check(context: Context) -> None:
        response = context.exchange(_APP, head("GET", f"/invalid?what={what}"))
        written = [name.decode("latin-1") for name, _ in response.headers if name.startswith(b"x-app")]
        assert response.status == 500, (
            f"a response with {description} was answered {response.status}, not 500"
        )
        assert not written, f"the server wrote fields of the invalid response: {written}"
        assert response.header("set-cookie") is None, (
            f"an injected field reached the wire: {response.headers}"
        )
        assert b"app-content" not in response.body, "the server wrote the content of the invalid response"

    check.__doc__ = f"A response with {description} is an application error: 500, none of it written."
    behavior("PYRE-RESP-7", what, level="MUST", section="6.3", app=_APP)(check)


for _what, _description in _INVALID.items():
    _refused(_what, _description)


# -- file descriptors (PYRE-RESP-19) --------------------------------------------------------


def _descriptor_closed(context: Context, key: str) -> None:
    report = context.exchange(_APP, head("GET", f"/fd-closed?id={key}")).body.decode()
    assert report == "closed", f"the FileBody's descriptor is still open after its response ({report})"


@behavior("PYRE-RESP-19", "fd-closed-after-get", level="MUST", section="6.7", app=_APP)
def _fd_get(context: Context) -> None:
    """The descriptor of a FileBody is closed once its response is sent."""
    key = new_key()
    response = context.exchange(_APP, head("GET", f"/fd?id={key}"))
    assert response.status == 200, response
    assert response.complete, response
    _descriptor_closed(context, key)


@behavior("PYRE-RESP-19", "fd-closed-after-head", level="MUST", section="6.7", app=_APP)
def _fd_head(context: Context) -> None:
    """The descriptor of a FileBody answering HEAD, whose content is never sent, is closed."""
    key = new_key()
    response = context.exchange(_APP, head("HEAD", f"/fd?id={key}"), method="HEAD")
    assert response.status == 200, response
    _descriptor_closed(context, key)


@behavior("PYRE-RESP-19", "fd-closed-after-304", level="MUST", section="6.7", app=_APP)
def _fd_304(context: Context) -> None:
    """The descriptor of a FileBody in a 304, whose content is never sent, is closed."""
    key = new_key()
    response = context.exchange(_APP, head("GET", f"/fd?id={key}&status=304"))
    assert response.status == 304, response
    _descriptor_closed(context, key)


@behavior("PYRE-RESP-19", "fd-closed-after-disconnect", level="MUST", section="6.7", app=_APP)
def _fd_disconnect(context: Context) -> None:
    """The descriptor of a 64 MiB FileBody is closed when the client leaves after its head."""
    key = new_key()
    with context.connect(_APP) as client:
        client.send(head("GET", f"/fd?id={key}&size=large"))
        assert client.read_head().status == 200
    _descriptor_closed(context, key)


@behavior("PYRE-RESP-19", "fd-closed-after-error", level="MUST", section="6.7", app=_APP)
def _fd_error(context: Context) -> None:
    """The descriptor of a FileBody whose offset lies past the end is closed; the answer is 500."""
    key = new_key()
    response = context.exchange(_APP, head("GET", f"/fd?id={key}&offset=past-end"))
    assert response.status == 500, (
        f"a FileBody region past the end of its file was answered {response.status}"
    )
    _descriptor_closed(context, key)


# -- the request's context, task and addresses (PYRE-APP-4, PYRE-ERR-6, PYRE-REQ-11, PYRE-REQ-19) --


@behavior("PYRE-APP-4", "context-per-request", level="MUST", section="2.3", app=_APP)
def _context_per_request(context: Context) -> None:
    """A context variable one request sets is unset in the next request on the same connection."""
    with context.connect(_APP) as client:
        for value in ("first", "second", "third"):
            client.send(head("GET", f"/context?value={value}"))
            seen = client.read_response().json()["seen"]
            assert seen is None, f"the request setting {value!r} saw {seen!r}, set by an earlier request"


@behavior("PYRE-ERR-6", "not-cancelled-on-disconnect", level="MUST", section="8.3", app=_APP)
def _not_cancelled(context: Context) -> None:
    """The request task goes on after the client left: the app's awaits are not cancelled."""
    key = new_key()
    with context.connect(_APP) as client:
        client.send(head("GET", f"/outlive?id={key}"))
        assert posted(context, _APP, f"{key}-started") == "waiting"
    outcome = posted(context, _APP, key)
    assert outcome == "survived", f"the server cancelled the request task when the client left: {outcome}"


@behavior("PYRE-REQ-11", "addresses", level="MUST", section="3.4", app=_APP)
def _addresses(context: Context) -> None:
    """client is the peer's (host, port) tuple and server the local one, str and int."""
    with context.connect(_APP) as client:
        client.send(head("GET", "/addresses"))
        report = client.read_response().json()
        peer, local = client.sock.getsockname()[:2], client.sock.getpeername()[:2]
    for name, expected in (("client", peer), ("server", local)):
        kind, value = report[name]
        assert kind == "tuple[str, int]", f"request.{name} is {kind}, not a (host, port) tuple of str and int"
        assert tuple(value) == expected, f"request.{name} is {value}, not {expected}"


@behavior("PYRE-REQ-19", "invalid-interim-status", level="MUST", section="3.7", app=_APP)
def _invalid_interim(context: Context) -> None:
    """send_interim raises ValueError for 200, 101 and 99, and writes nothing."""
    for status in (200, 101, 99):
        response = context.exchange(_APP, head("GET", f"/interim?status={status}"))
        outcome = response.body.decode()
        assert outcome == "ValueError", f"send_interim({status}) {outcome}, instead of raising ValueError"
        assert response.interim == [], f"send_interim({status}) wrote {response.interim}"


@behavior("PYRE-HDR-8", "headers-unchanged-by-trailers", level="MUST", section="4.4", app=_APP)
def _headers_unchanged(context: Context) -> None:
    """request.headers, read after the body, holds no trailer field (seen by an unwrapped app)."""
    request = head("POST", "/headers-after-body", "Transfer-Encoding: chunked")
    response = context.exchange(_APP, request + b"4\r\ndata\r\n0\r\nX-Late: 1\r\n\r\n")
    names = [name.lower() for name in response.json()]
    assert "x-late" not in names, f"a trailer field was merged into request.headers: {names}"


# -- framing fields of responses without content (PYRE-FRAME-8) -------------------------------


@behavior("PYRE-FRAME-8", "204-app-length-removed", level="MUST", section="6.5", app=_APP)
def _no_length_204(context: Context) -> None:
    """An app's content-length on a 204 is removed."""
    with context.connect(_APP) as client:
        client.send(head("GET", "/204-with-length"))
        response = client.read_response()
        assert response.status == 204, response
        assert response.header("content-length") is None, f"a 204 was sent with {response.headers}"
        expect_reusable(client)


@behavior("PYRE-FRAME-8", "304-app-length-kept", level="MUST", section="6.5", app=_APP)
def _length_304(context: Context) -> None:
    """An app's content-length on a 304 is sent as given, without content."""
    with context.connect(_APP) as client:
        client.send(head("GET", "/304-with-length"))
        response = client.read_response()
        assert response.status == 304, response
        assert response.header_all("content-length") == ["13"], (
            f"the 304's content-length: {response.headers}"
        )
        expect_reusable(client)


# -- trailers only where the chunked coding carries them (PYRE-RESP-15, PYRE-FRAME-1) ---------


def _trailers_called(client: WireClient, key: str) -> str:
    client.send(head("GET", f"/trailers-called?id={key}"))
    try:
        return client.read_response().body.decode()
    except ConnectionClosed:
        raise AssertionError("the server closed a connection that should persist") from None


def _no_trailer_bytes(response: WireResponse) -> None:
    assert response.body == b"data", f"the content is not exactly the app's: {response.body!r}"


@behavior("PYRE-RESP-15", "not-called-with-app-length", level="MUST", section="6.6", app=_APP)
def _trailers_app_length(context: Context) -> None:
    """With an app content-length the response is not chunked: trailers are not called nor sent."""
    key = new_key()
    with context.connect(_APP) as client:
        client.send(head("GET", f"/trailers?id={key}&length=4", "TE: trailers"))
        response = client.read_response()
        assert response.framing == "length", response.framing
        _no_trailer_bytes(response)
        assert _trailers_called(client, key) == "not called", (
            "trailers were called for a length-delimited body"
        )


@behavior("PYRE-RESP-15", "not-called-for-http10", level="MUST", section="6.6", app=_APP)
def _trailers_http10(context: Context) -> None:
    """To an HTTP/1.0 client the response is not chunked: trailers are not called nor sent."""
    key = new_key()
    response = context.exchange(_APP, head("GET", f"/trailers?id={key}", version="1.0"))
    _no_trailer_bytes(response)
    with context.connect(_APP) as client:
        assert _trailers_called(client, key) == "not called", "trailers were called for an HTTP/1.0 response"


@behavior("PYRE-RESP-15", "not-called-for-head", level="MUST", section="6.6", app=_APP)
def _trailers_head(context: Context) -> None:
    """A response to HEAD has no content: trailers are not called nor sent."""
    key = new_key()
    with context.connect(_APP) as client:
        client.send(head("HEAD", f"/trailers?id={key}", "TE: trailers"))
        assert client.read_response("HEAD").status == 200
        assert _trailers_called(client, key) == "not called", "trailers were called for a HEAD response"


@behavior("PYRE-FRAME-1", "trailers-make-bytes-chunked", level="MUST", section="6.5", app=_APP)
def _trailers_bytes(context: Context) -> None:
    """On HTTP/1.1 a bytes body with trailers is sent chunked, and the trailers follow it."""
    key = new_key()
    with context.connect(_APP) as client:
        client.send(head("GET", f"/trailers?id={key}&body=bytes", "TE: trailers"))
        response = client.read_response()
        assert response.framing == "chunked", (
            f"a response with trailers was sent {response.framing}-delimited"
        )
        _no_trailer_bytes(response)
        assert response.trailer("x-checksum") == "c0ffee", response.trailers
        assert _trailers_called(client, key) == "called"
