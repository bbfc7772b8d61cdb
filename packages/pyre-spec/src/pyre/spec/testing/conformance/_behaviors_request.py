"""Cases on the request object and its body, run against the ``probe`` app (sections 2 to 5, 8.2, 10).

The probe runs under the validator, so every exchange here also checks the types
and values of every request attribute (PYRE-REQ-1) whatever the case looks at.
"""

from __future__ import annotations

import re
import socket

from ..._version import EXT_EARLY_HINTS, EXT_SENDFILE, EXT_TLS, EXT_UPGRADE
from ..._websocket import EXT_WEBSOCKET
from . import apps
from ._behaviors import behavior, head, post, posted
from ._cases import Context, NotApplicable, new_key
from ._client import WireResponse

_REGISTERED = frozenset({EXT_UPGRADE, EXT_SENDFILE, EXT_EARLY_HINTS, EXT_TLS, EXT_WEBSOCKET})
_EXTENSION_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def _report(context: Context, target: str = "/report") -> dict[str, object]:
    response = context.exchange(apps.probe, head("GET", target))
    assert response.status == 200, response
    report: dict[str, object] = response.json()
    return report


# -- the application call (section 2) ------------------------------------------


@behavior("PYRE-APP-2", "called-once-before-body", level="MUST", section="2.2", app=apps.probe)
def _called_before_body(context: Context) -> None:
    """The app is called as soon as the request head is in, before the body arrives, and once."""
    key = new_key()
    with context.connect(apps.probe) as client:
        client.send(head("POST", f"/called?id={key}", "Content-Length: 4"))
        assert posted(context, apps.probe, key) == "called", "the app was not called before the body came"
        client.send(b"body")
        response = client.read_response()
    assert response.json() == {"calls": 1, "body": "body"}, response.json()
    assert _report(context, f"/calls?id={key}") == {"calls": 1}, "the app was called more than once"


@behavior("PYRE-APP-5", "own-task", level="MUST", section="2.3", app=apps.probe)
def _own_task(context: Context) -> None:
    """Each running app has a current Task of its own, usable with asyncio.timeout()."""
    first, second = new_key(), new_key()
    with context.connect(apps.probe) as waiting:
        waiting.send(head("GET", f"/task?id={first}"))
        assert posted(context, apps.probe, f"{first}-running") == "yes"
        post(context, apps.probe, second)
        response = context.exchange(apps.probe, head("GET", f"/task?id={second}"))
        assert response.body == b"own task", response.body
        post(context, apps.probe, first)
        response = waiting.read_response()
        assert response.body == b"own task", response.body


# -- request attributes (section 3) --------------------------------------------


@behavior("PYRE-REQ-1", "every-attribute-checked", level="MUST", section="3.1", app=apps.probe)
def _every_attribute(context: Context) -> None:
    """Requests of every shape pass the validator's check of each attribute's type and value."""
    requests = [
        head("GET", "/report?q=1"),
        head("GET", "/report", version="1.0"),
        head("POST", "/chunks", "Content-Length: 3") + b"abc",
        head("POST", "/chunks", "Transfer-Encoding: chunked") + b"2\r\nab\r\n0\r\n\r\n",
        head("GET", "http://conformance.test/report"),
        head("OPTIONS", "*"),
    ]
    for request in requests:
        response = context.exchange(apps.probe, request)
        assert response.status in (200, 404), f"{request[:40]!r}: {response}"


@behavior("PYRE-REQ-8", "scheme-http", level="MUST", section="3.3", app=apps.probe)
def _scheme(context: Context) -> None:
    """A request over plain TCP has the scheme "http"."""
    scheme = _report(context)["scheme"]
    assert scheme == "http", f"scheme is {scheme!r} over plain TCP"


@behavior("PYRE-REQ-12", "root-path", level="MUST", section="3.4", app=apps.probe)
def _root_path(context: Context) -> None:
    """root_path is a str and the path is the request's own, never stripped or prefixed."""
    report = _report(context)
    assert isinstance(report["root_path"], str), report
    assert report["path"] == "/report", report


@behavior("PYRE-REQ-14", "extensions-advertised", level="MUST", section="3.5", app=apps.probe)
def _extensions(context: Context) -> None:
    """request.extensions holds only names the server lists in server_info.extensions."""
    report = _report(context)
    extensions = report["extensions"]
    assert isinstance(extensions, list), report
    assert isinstance(report["server_extensions"], list), report
    unlisted = set(extensions) - set(report["server_extensions"])
    assert not unlisted, f"request.extensions has {unlisted}, which server_info does not list"


@behavior("PYRE-REQ-15", "same-server-info", level="MUST", section="3.5", app=apps.probe)
def _same_server_info(context: Context) -> None:
    """Every request, on any connection, gets the very same ServerInfo object."""
    for _ in range(3):
        assert _report(context)["same_server_info"] is True, "server_info is a new object per request"


def _expect_disconnect_seen(context: Context, poll: bool, half_close: bool = False) -> None:
    key = new_key()
    with context.connect(apps.probe) as client:
        client.send(head("GET", f"/disconnect?id={key}" + ("&poll=1" if poll else "")))
        assert posted(context, apps.probe, f"{key}-started") == "yes"
        if half_close:
            client.sock.shutdown(socket.SHUT_WR)
            seen = posted(context, apps.probe, key)
    if not half_close:
        seen = posted(context, apps.probe, key)
    assert seen == "before=False after=True later=True", f"the app saw {seen}"


@behavior("PYRE-REQ-16", "disconnected-flag", level="MUST", section="3.6", app=apps.probe)
def _disconnected_flag(context: Context) -> None:
    """disconnected is False while the client is there, then True, and stays True."""
    _expect_disconnect_seen(context, poll=False)


@behavior("PYRE-REQ-22", "half-close-is-a-disconnect", level="MUST", section="3.6", app=apps.probe)
def _half_close(context: Context) -> None:
    """A client that shuts down its sending side has closed: disconnected becomes True."""
    _expect_disconnect_seen(context, poll=False, half_close=True)


@behavior("PYRE-REQ-18", "watched-without-waiting", level="SHOULD", section="3.6", app=apps.probe)
def _watched(context: Context) -> None:
    """The server notices a close while the app runs, without the app calling wait_disconnected()."""
    _expect_disconnect_seen(context, poll=True)


# -- the body (section 5) and disconnects (8.2) ----------------------------------


@behavior("PYRE-BODY-1", "iterate-then-read", level="MUST", section="5.1", app=apps.probe)
def _iterate_then_read(context: Context) -> None:
    """Iterating part of the body and reading the rest delivers every byte once."""
    with context.connect(apps.probe) as client:
        client.send(head("POST", "/mixed", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n")
        client.send(b"4\r\ndefg\r\n0\r\n\r\n")
        report = client.read_response().json()
    assert report["first"], f"iteration yielded nothing first: {report}"
    assert report["first"] + report["rest"] == "abcdefg", report
    assert report["again"] == "", f"read() after the end returned {report['again']!r}"


@behavior("PYRE-BODY-4", "iteration-chunks", level="MUST", section="5.2", app=apps.probe)
def _iteration_chunks(context: Context) -> None:
    """Iteration yields non-empty chunks that add up to the content, then ends."""
    with context.connect(apps.probe) as client:
        client.send(head("POST", "/chunks", "Transfer-Encoding: chunked"))
        for part in (b"5\r\nfirst\r\n", b"6\r\nsecond\r\n", b"0\r\n\r\n"):
            client.send(part)
        sizes = client.read_response().json()["sizes"]
    assert all(size > 0 for size in sizes), f"empty chunks: {sizes}"
    assert sum(sizes) == 11, sizes


@behavior("PYRE-BODY-6", "read-max-size", level="MUST", section="5.4", app=apps.probe)
def _read_max_size(context: Context) -> None:
    """read(max_size) raises RequestBodyTooLarge for more content, and returns content up to it."""
    over = context.exchange(apps.probe, head("POST", "/read-max?max=4", "Content-Length: 10") + b"0123456789")
    assert over.json()["raised"] is True, f"read(4) of 10 bytes: {over.json()}"
    exact = context.exchange(
        apps.probe, head("POST", "/read-max?max=10", "Content-Length: 10") + b"0123456789"
    )
    assert exact.json() == {"raised": False, "read": 10}, f"read(10) of 10 bytes: {exact.json()}"


@behavior("PYRE-BODY-15", "read-while-streaming", level="SHOULD", section="5.7", app=apps.probe)
def _read_while_streaming(context: Context) -> None:
    """The body stays readable while the response streams: each chunk comes back before the next is sent."""
    with context.connect(apps.probe) as client:
        client.send(head("POST", "/echo-stream", "Transfer-Encoding: chunked") + b"5\r\nfirst\r\n")
        assert client.read_head().status == 200
        assert client.read_chunk() == b"first"
        client.send(b"6\r\nsecond\r\n0\r\n\r\n")
        assert client.read_chunk() == b"second"
        assert client.read_chunk() == b""
        assert client.read_fields() is not None


@behavior("PYRE-ERR-3", "read-after-disconnect", level="MUST", section="8.2", app=apps.probe)
def _read_after_disconnect(context: Context) -> None:
    """Reading the body after the client left raises ClientDisconnected, not OSError."""
    key = new_key()
    with context.connect(apps.probe) as client:
        client.send(head("POST", f"/read-after-disconnect?id={key}", "Content-Length: 100") + b"part")
    outcome = posted(context, apps.probe, key)
    assert outcome == "ClientDisconnected", f"reading the body after the client left: {outcome}"


# -- what the server says about itself (section 10) -----------------------------


def _server_extensions(context: Context) -> list[str]:
    names = _report(context)["server_extensions"]
    assert isinstance(names, list), names
    assert all(isinstance(name, str) for name in names), names
    return names


@behavior("PYRE-VER-1", "spec-version", level="MUST", section="10.1", app=apps.probe)
def _spec_version(context: Context) -> None:
    """ServerInfo.spec_version is "MAJOR.MINOR"."""
    version = _report(context)["spec_version"]
    assert isinstance(version, str), version
    assert re.fullmatch(r"[0-9]+\.[0-9]+", version), version


@behavior("PYRE-VER-2", "extensions-known", level="MUST", section="10.2", app=apps.probe)
def _extensions_known(context: Context) -> None:
    """Every pyre.* extension a server lists is one the document defines."""
    unknown = {name for name in _server_extensions(context) if name.startswith("pyre.")} - _REGISTERED
    assert not unknown, f"the server lists {unknown}, which pyre-spec does not define"


@behavior("PYRE-VER-5", "extension-names", level="MUST", section="10.3", app=apps.probe)
def _extension_names(context: Context) -> None:
    """Extension names are lowercase dotted names."""
    for name in _server_extensions(context):
        assert _EXTENSION_NAME.fullmatch(name), f"{name!r} is not a lowercase dotted name"


@behavior("PYRE-VER-6", "no-tls-data-over-tcp", level="MUST", section="10.3", app=apps.probe)
def _no_tls_data(context: Context) -> None:
    """A request over plain TCP carries no pyre.tls data."""
    extensions = _report(context)["extensions"]
    assert isinstance(extensions, list), extensions
    assert EXT_TLS not in extensions, extensions


def _early_hints(context: Context) -> WireResponse:
    return context.exchange(apps.responses, head("GET", "/early-hints"))


@behavior("PYRE-RESP-23", "early-hints-forwarded", level="MUST", section="6.8", app=apps.probe)
def _early_hints_forwarded(context: Context) -> None:
    """A server listing pyre.early_hints forwards a 103; one that does not forwards it or drops it."""
    response = _early_hints(context)
    statuses = [status for status, _ in response.interim]
    if EXT_EARLY_HINTS in _server_extensions(context):
        assert statuses == [103], f"a server listing pyre.early_hints sent interim {statuses}"
    else:
        assert statuses in ([], [103]), statuses


@behavior("PYRE-BODY-18", "smaller-limit-reported", level="MUST", section="5.4", app=apps.probe)
def _smaller_limit(context: Context) -> None:
    """RequestBodyTooLarge from read(max_size) carries the smaller of max_size and the server's limit."""
    request = head("POST", "/read-max?max=4", "Content-Length: 10") + b"0123456789"
    assert context.exchange(apps.probe, request).json() == {"raised": True, "limit": 4}
    limit = context.limits.max_body
    if limit is None:
        return
    chunk = b"c" * 65536
    chunks = b"%x\r\n%s\r\n" % (len(chunk), chunk) * (limit // len(chunk) + 1) + b"0\r\n\r\n"
    request = head("POST", f"/read-max?max={limit * 2}", "Transfer-Encoding: chunked") + chunks
    report = context.exchange(apps.probe, request).json()
    assert report == {"raised": True, "limit": limit}, (
        f"read({limit * 2}) past the server's {limit}: {report}"
    )


@behavior("PYRE-BODY-19", "too-large-again", level="MUST", section="5.4", app=apps.probe)
def _too_large_again(context: Context) -> None:
    """Past the server's limit every read raises RequestBodyTooLarge again, and trailers stay None."""
    limit = context.limits.max_body
    if limit is None:
        raise NotApplicable("the server declares no max_body")
    chunk = b"c" * 65536
    chunks = b"%x\r\n%s\r\n" % (len(chunk), chunk) * (limit // len(chunk) + 1) + b"0\r\n\r\n"
    response = context.exchange(
        apps.probe, head("POST", "/past-the-limit", "Transfer-Encoding: chunked") + chunks
    )
    assert response.json() == {"raised": [True, True], "trailers": None}, response.json()


@behavior("PYRE-BODY-17", "malformed-chunk-after-call", level="MUST", section="5.3", app=apps.disconnect)
def _malformed_chunk(context: Context) -> None:
    """A bad chunk found after the app was called: its read raises ClientDisconnected; 400 and close."""
    key = new_key()
    with context.connect(apps.disconnect) as client:
        client.send(head("POST", f"/read?id={key}", "Transfer-Encoding: chunked") + b"5\r\nhello\r\nzz\r\n")
        response = client.read_response()
        assert response.status == 400, response
        rest = client.read_until_close()
        assert not rest, f"the server went on after the malformed content: {rest[:80]!r}"
    outcome = posted(context, apps.disconnect, key)
    assert outcome == "ClientDisconnected", f"reading malformed chunked content: {outcome}"


@behavior("PYRE-HDR-9", "empty-body-trailers", level="MAY", section="4.4", app=apps.trailers)
def _empty_body_trailers(context: Context) -> None:
    """Without content, trailers are None or already empty before the read, and empty after it."""
    report = context.exchange(apps.trailers, head("GET", "/echo")).json()
    assert report["before"] in (None, []), report
    assert report["trailers"] == [], report


def _header_section(size: int) -> bytes:
    """A request whose header section counts ``size`` by PYRE-HDR-10 (name + value + 4 per line)."""
    host = len("host") + len(_HOST_VALUE) + 4
    fill = size - host - len("x-fill") - 4
    return head("GET", "/report", "X-Fill: " + "f" * fill)


_HOST_VALUE = "conformance.test"


@behavior("PYRE-HDR-10", "header-size-formula", level="SHOULD", section="4.3", app=apps.probe)
def _header_size(context: Context) -> None:
    """A header section of exactly the stated size is served; one byte more is answered 431."""
    limit = context.limits.max_header_bytes
    if limit is None:
        raise NotApplicable("the server declares no max_header_bytes")
    at = context.exchange(apps.probe, _header_section(limit))
    assert at.status == 200, f"a header section of {limit} bytes, the stated limit, got {at.status}"
    over = context.exchange(apps.probe, _header_section(limit + 1))
    assert over.status == 431, f"a header section of {limit + 1} bytes got {over.status}"


@behavior("PYRE-REQ-23", "invalid-interim-fields", level="MUST", section="3.7", app=apps.unchecked)
def _invalid_interim_fields(context: Context) -> None:
    """send_interim with framing or connection fields or invalid bytes raises ValueError, writes nothing."""
    forwards = EXT_EARLY_HINTS in _server_extensions(context)
    for what in ("content-length", "transfer-encoding", "connection", "crlf-value", "uppercase-name"):
        response = context.exchange(apps.unchecked, head("GET", f"/interim-fields?what={what}"))
        assert response.interim == [], f"{what}: the invalid interim response was written: {response.interim}"
        if forwards:
            assert response.body == b"ValueError", f"{what}: send_interim did not raise ValueError"


@behavior("PYRE-REQ-24", "interim-after-disconnect", level="MUST", section="3.7", app=apps.probe)
def _interim_after_disconnect(context: Context) -> None:
    """Once the client has gone, send_interim raises ClientDisconnected (a server dropping 103 may return)."""
    key = new_key()
    with context.connect(apps.probe) as client:
        client.send(head("GET", f"/interim-after-disconnect?id={key}"))
    outcome = posted(context, apps.probe, key)
    allowed = {"ClientDisconnected"} | (
        set() if EXT_EARLY_HINTS in _server_extensions(context) else {"returned"}
    )
    assert outcome in allowed, f"send_interim after the client left: {outcome}"
