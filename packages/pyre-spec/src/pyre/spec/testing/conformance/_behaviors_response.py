"""Cases on what the server writes for a response, on lifespan startup, and on upgrades
(sections 6, 7 and 9).

The ``unchecked`` app breaks the application's side on purpose, so that the
server's own check is what these cases observe.
"""

from __future__ import annotations

import socket

from . import apps
from ._behaviors import behavior, expect_closed, expect_reusable, head, posted
from ._cases import Context, NotApplicable, new_key
from ._client import WireClient, WireResponse

# The fields a server may add to an app's own (PYRE-RESP-8).
_SERVER_FIELDS = frozenset({b"content-length", b"transfer-encoding", b"date", b"connection", b"server"})


@behavior("PYRE-RESP-8", "fields-in-order", level="MUST", section="6.3", app=apps.probe)
def _fields_in_order(context: Context) -> None:
    """The app's field lines are written in order, one per pair; the server adds only its own fields."""
    response = context.exchange(apps.probe, head("GET", "/fields"))
    app_lines = [line for line in response.headers if line[0] not in _SERVER_FIELDS]
    assert app_lines == [
        (b"x-b", b"1"),
        (b"x-a", b"2"),
        (b"x-b", b"3"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ], f"the app's fields came out as {app_lines}"


@behavior("PYRE-RESP-9", "app-server-field-kept", level="MAY", section="6.3", app=apps.probe)
def _app_server_field(context: Context) -> None:
    """A server field of the app's is sent as given, and the server adds none of its own."""
    response = context.exchange(apps.probe, head("GET", "/server-field"))
    assert response.header_all("server") == ["conformance-app"], response.headers


@behavior("PYRE-VER-4", "response-subclass", level="MUST", section="10.2", app=apps.probe)
def _response_subclass(context: Context) -> None:
    """A Response subclass with an attribute the server does not know is sent as a Response."""
    response = context.exchange(apps.probe, head("GET", "/subclass"))
    assert (response.status, response.body) == (200, b"subclass"), response


@behavior("PYRE-FRAME-3", "wrong-length-corrected", level="MUST", section="6.5", app=apps.unchecked)
def _wrong_length(context: Context) -> None:
    """An app content-length that disagrees with a bytes body is replaced by the true length."""
    with context.connect(apps.unchecked) as client:
        client.send(head("GET", "/wrong-length"))
        response = client.read_response()
        assert response.header_all("content-length") == ["7"], response.headers
        assert response.body == b"seven b"
        client.send(head("GET", "/_control/post?id=after-length"))
        assert client.read_response().body == b"posted", "the connection lost its framing"


@behavior("PYRE-FRAME-3", "two-lengths-refused", level="MUST", section="6.5", app=apps.unchecked)
def _two_lengths(context: Context) -> None:
    """Two content-length fields from the app are an application error: 500, never both on the wire."""
    response = context.exchange(apps.unchecked, head("GET", "/two-lengths"))
    assert response.status == 500, response
    assert len(response.header_all("content-length")) <= 1, response.headers


@behavior("PYRE-FRAME-3", "non-decimal-length-refused", level="MUST", section="6.5", app=apps.unchecked)
def _bad_length(context: Context) -> None:
    """A non-decimal app content-length is an application error: 500."""
    response = context.exchange(apps.unchecked, head("GET", "/bad-length"))
    assert response.status == 500, response
    assert response.header("content-length") != "0x3", response.headers


@behavior("PYRE-FRAME-13", "no-last-chunk-after-error", level="MUST", section="6.5", app=apps.unchecked)
def _no_last_chunk(context: Context) -> None:
    """A stream that raises gets no last-chunk and its trailers are never called or sent."""
    with context.connect(apps.unchecked) as client:
        client.send(head("GET", "/raise-with-trailers", "TE: trailers"))
        response = client.read_response()
        assert not response.complete, "the server ended the chunked body as if the stream had succeeded"
        assert response.trailer("x-after-error") is None, response.trailers


@behavior(
    "PYRE-FRAME-14", "app-keep-alive-not-sent-when-closing", level="MUST", section="6.5", app=apps.probe
)
def _app_keep_alive(context: Context) -> None:
    """An app connection: keep-alive neither keeps open nor shows on a connection the server closes."""
    for request in (
        head("GET", "/keep-alive", version="1.0"),
        head("GET", "/keep-alive", "Connection: close"),
    ):
        with context.connect(apps.probe) as client:
            client.send(request)
            response = client.read_response()
            assert "keep-alive" not in response.connection_tokens(), f"{request[:40]!r}: {response.headers}"
            assert len(response.header_all("connection")) <= 1, response.headers
            expect_closed(client)


@behavior("PYRE-FRAME-15", "head-204-no-length", level="MUST", section="6.5", app=apps.unchecked)
def _head_204(context: Context) -> None:
    """A 204 answering HEAD carries no content-length, not even the app's."""
    with context.connect(apps.unchecked) as client:
        client.send(head("HEAD", "/204-with-length"))
        response = client.read_response("HEAD")
        assert response.status == 204, response
        assert response.header("content-length") is None, response.headers
        expect_reusable(client)


# -- lifespan (section 7) ---------------------------------------------------------


@behavior("PYRE-LIFE-3", "startup-before-serving", level="MUST", section="7.2", app=apps.lifespan)
def _startup_first(context: Context) -> None:
    """A suspending lifespan startup finishes before the first request reaches the app."""
    with context.fresh_server(apps.lifespan) as address, WireClient(address, context.timeout) as client:
        client.send(head("GET", "/"))
        report = client.read_response().json()
    assert report["started_by"], f"the app was called before startup finished: {report}"


@behavior("PYRE-APP-9", "lifespan-context-not-inherited", level="MUST", section="2.3", app=apps.lifespan)
def _lifespan_context(context: Context) -> None:
    """A context variable set in lifespan startup is not visible to requests."""
    with context.fresh_server(apps.lifespan) as address, WireClient(address, context.timeout) as client:
        client.send(head("GET", "/"))
        report = client.read_response().json()
    assert report["lifespan_context"] is None, f"a request saw the lifespan's context: {report}"


# -- upgrade (section 9) ------------------------------------------------------------


def _upgrade_head(target: str) -> bytes:
    return head("GET", target, "Upgrade: pyre-conformance", "Connection: upgrade")


def _switch(client: WireClient, target: str, early: bytes = b"") -> WireResponse:
    client.send(_upgrade_head(target) + early)
    response = client.read_response()
    if response.status == 501:
        raise NotApplicable("the server does not list pyre.upgrade")
    assert response.status == 101, response
    return response


class _Echoed:
    """One upgraded exchange with the echo handler: what the client saw, and what the handler posted."""

    def __init__(self, context: Context) -> None:
        key = new_key()
        with context.connect(apps.upgrade) as client:
            self.response = _switch(client, f"/echo?id={key}", b"early")
            self.first = client.read_exact(5)
            client.sendall(b"more")
            self.second = client.read_exact(4)
            client.sock.shutdown(socket.SHUT_WR)
            self.rest = client.read_until_close()
        self.report = posted(context, apps.upgrade, key)


@behavior("PYRE-UPG-3", "101-not-asked-for", level="MUST", section="9.1", app=apps.unchecked)
def _unasked_upgrade(context: Context) -> None:
    """A 101 answering a request without Upgrade is an application error: 500."""
    response = context.exchange(apps.unchecked, head("GET", "/101"))
    assert response.status == 500, response


@behavior("PYRE-UPG-4", "switching-head", level="MUST", section="9.2", app=apps.upgrade)
def _switching_head(context: Context) -> None:
    """The 101 has connection: upgrade and no framing fields; the body is ignored; upgrade runs once."""
    echoed = _Echoed(context)
    assert "upgrade" in echoed.response.connection_tokens(), echoed.response.headers
    for name in ("content-length", "transfer-encoding"):
        assert echoed.response.header(name) is None, echoed.response.headers
    assert echoed.first == b"early", f"the stream began with {echoed.first!r}, not the client's bytes"
    assert echoed.report.startswith("calls=1 "), echoed.report


@behavior("PYRE-UPG-5", "stream-read", level="MUST", section="9.3", app=apps.upgrade)
def _stream_read(context: Context) -> None:
    """read() starts with the bytes sent after the head, then gives b"" once the client closed, ever after."""
    echoed = _Echoed(context)
    assert (echoed.first, echoed.second) == (b"early", b"more"), (echoed.first, echoed.second)
    assert echoed.report.endswith("eof-again=True"), echoed.report


@behavior("PYRE-UPG-6", "write-after-client-left", level="MUST", section="9.3", app=apps.upgrade)
def _write_after_close(context: Context) -> None:
    """write() raises ClientDisconnected once the client has gone."""
    key = new_key()
    with context.connect(apps.upgrade) as client:
        _switch(client, f"/write-after-close?id={key}")
        assert client.read_exact(5) == b"ready"
    outcome = posted(context, apps.upgrade, key)
    assert outcome == "ClientDisconnected", f"write() after the client left: {outcome}"


@behavior("PYRE-UPG-7", "closed-when-handler-returns", level="MUST", section="9.3", app=apps.upgrade)
def _closed_after_handler(context: Context) -> None:
    """The server closes the connection when the handler returns; close() twice is harmless."""
    echoed = _Echoed(context)
    assert echoed.rest == b"", f"the server sent {echoed.rest[:80]!r} after the handler returned"
    assert echoed.report.startswith("calls=1"), echoed.report


@behavior("PYRE-UPG-9", "upgrade-request-content", level="MUST", section="9.3", app=apps.upgrade)
def _upgrade_content(context: Context) -> None:
    """An upgrade request's content goes to request.body, the stream starts after it (or 400 and close)."""
    key = new_key()
    with context.connect(apps.upgrade) as client:
        client.send(_upgrade_head(f"/with-body?id={key}")[:-2] + b"Content-Length: 4\r\n\r\nbodyearly")
        response = client.read_response()
        if response.status == 400:
            expect_closed(client)
            return
        if response.status == 501:
            raise NotApplicable("the server does not list pyre.upgrade")
        assert response.status == 101, response
        assert client.read_exact(5) == b"early", "the upgraded stream did not start after the content"
    content = posted(context, apps.upgrade, f"{key}-body")
    assert content == "body", f"request.body of the upgrade request gave {content!r}"
