"""to_asgi: pyre-spec applications called the way an ASGI server calls them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_side import ASGIServerSide, http_scope

from pyre.asgi import to_asgi
from pyre.spec import (
    EXT_EARLY_HINTS,
    EXT_SENDFILE,
    EXT_WEBSOCKET,
    ClientDisconnected,
    FileBody,
    FileTooShort,
    RawHeaders,
    Request,
    RequestBodyTooLarge,
    Response,
    ServerInfo,
    State,
    WebSocketSession,
)


async def call(app: Any, scope: dict[str, Any], server: ASGIServerSide | None = None) -> ASGIServerSide:
    server = server or ASGIServerSide()
    await to_asgi(app)(scope, server.receive, server.send)
    return server


async def hello(request: Request) -> Response:
    return Response(200, [(b"content-type", b"text/plain")], b"hello")


async def test_bytes_response_gets_content_length() -> None:
    server = await call(hello, http_scope())
    assert [m["type"] for m in server.sent] == ["http.response.start", "http.response.body"]
    assert server.start()["status"] == 200
    assert server.headers() == {b"content-type": b"text/plain", b"content-length": b"5"}
    assert server.body() == b"hello"
    assert server.sent[-1].get("more_body", False) is False


async def test_request_reads_the_scope() -> None:
    seen: list[Request] = []

    async def app(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    scope = http_scope("/café/x", query=b"a=1", headers=[(b"host", b"example.com:8080"), (b"x-thing", b"1")])
    scope["raw_path"] = b"/caf%C3%A9/x"
    scope["root_path"] = "/api"
    scope["scheme"] = "https"
    server = await call(app, scope)
    request = seen[0]
    assert request.method == "GET"
    assert request.path == "/café/x"
    assert request.raw_path == b"/caf%C3%A9/x"
    assert request.query == b"a=1"
    assert request.target == b"/caf%C3%A9/x?a=1"
    assert request.scheme == "https"
    assert request.root_path == "/api"
    assert request.authority == "example.com:8080"
    assert request.headers.get("X-Thing") == "1"
    assert request.client == ("127.0.0.1", 40000)
    assert request.server == ("127.0.0.1", 8000)
    assert request.http_version == "1.1"
    assert request.body.length == 0
    # 204 has no content, so no content-length is added.
    assert server.headers() == {}


@pytest.mark.parametrize(
    ("path", "raw_path", "expected"),
    [
        # ASGI (and uvicorn's --root-path): path includes root_path; pyre-spec's does not.
        ("/api/café/x", b"/api/caf%C3%A9/x", ("/café/x", b"/caf%C3%A9/x")),
        ("/api/x", None, ("/x", b"/x")),
        # A server that left the prefix out (hypercorn), or a path that only starts with the same letters.
        ("/café/x", b"/caf%C3%A9/x", ("/café/x", b"/caf%C3%A9/x")),
        ("/apiary", b"/apiary", ("/apiary", b"/apiary")),
    ],
)
async def test_root_path_is_taken_off_the_path(
    path: str, raw_path: bytes | None, expected: tuple[str, bytes]
) -> None:
    seen: list[Request] = []

    async def app(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    scope = http_scope(path)
    scope["raw_path"] = raw_path
    scope["root_path"] = "/api"
    await call(app, scope)
    assert (seen[0].path, seen[0].raw_path, seen[0].root_path) == (*expected, "/api")


async def test_raw_path_falls_back_to_the_quoted_path() -> None:
    seen: list[bytes] = []

    async def app(request: Request) -> Response:
        seen.append(request.raw_path)
        return Response(200)

    scope = http_scope("/a b")
    del scope["raw_path"]
    await call(app, scope)
    assert seen == [b"/a%20b"]


async def test_request_body_streams_from_receive() -> None:
    chunks: list[bytes] = []

    async def app(request: Request) -> Response:
        async for chunk in request.body:
            chunks.append(chunk)
        assert request.trailers is not None
        return Response(200, body=b"|".join(chunks))

    scope = http_scope(method="POST", headers=[(b"transfer-encoding", b"chunked")])
    server = await call(app, scope, ASGIServerSide([b"one", b"two", b"three"]))
    assert chunks == [b"one", b"two", b"three"]
    assert server.body() == b"one|two|three"


async def test_request_body_limit_answers_413() -> None:
    async def app(request: Request) -> Response:
        await request.body.read(max_size=4)
        return Response(200)

    scope = http_scope(method="POST", headers=[(b"content-length", b"10")])
    server = await call(app, scope, ASGIServerSide([b"0123456789"]))
    assert server.start()["status"] == 413


async def test_streaming_response_is_sent_chunk_by_chunk() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0)
            yield part

    async def app(request: Request) -> Response:
        return Response(200, [(b"transfer-encoding", b"chunked")], chunks())

    server = await call(app, http_scope())
    bodies = [(m["body"], m.get("more_body", False)) for m in server.sent[1:]]
    assert bodies == [(b"a", True), (b"b", True), (b"c", True), (b"", False)]
    # The ASGI server owns framing: the app's transfer-encoding is dropped, no length is invented.
    assert server.headers() == {}


async def test_file_body_uses_pathsend_when_offered(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "index.html"
    path.write_bytes(b"<p>static</p>")

    async def app(request: Request) -> Response:
        assert request.server_info.supports(EXT_SENDFILE)
        return Response(200, [(b"content-type", b"text/html")], FileBody(path=path))

    server = await call(app, http_scope(extensions={"http.response.pathsend": {}}))
    assert server.sent[1] == {"type": "http.response.pathsend", "path": str(path.resolve())}
    assert server.headers()[b"content-length"] == b"13"


async def test_file_body_is_read_when_pathsend_is_not_offered(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.bin"
    content = os.urandom(600_000)  # more than two of the reader's chunks
    path.write_bytes(content)

    async def app(request: Request) -> Response:
        assert not request.server_info.supports(EXT_SENDFILE)
        return Response(200, body=FileBody(path=path))

    server = await call(app, http_scope())
    assert server.body() == content
    assert server.headers()[b"content-length"] == b"600000"
    assert len(server.sent) > 3
    assert [m.get("more_body", False) for m in server.sent[1:]] == [True] * (len(server.sent) - 2) + [False]


@pytest.mark.parametrize(("offset", "count"), [(8, 3), (11, None)])
async def test_a_file_region_past_the_end_is_an_error_before_the_response_starts(
    tmp_path: pathlib.Path, offset: int, count: int | None
) -> None:
    # PYRE-RESP-18, as a pyre server has it: an application error, nothing sent (the ASGI
    # server answers 500), never a shorter body under a content-length the file cannot fill.
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)

    async def app(request: Request) -> Response:
        return Response(200, body=FileBody(fd=fd, offset=offset, count=count))

    server = ASGIServerSide()
    with pytest.raises(FileTooShort):
        await call(app, http_scope(), server)
    assert server.sent == []
    with pytest.raises(OSError):
        os.fstat(fd)  # closed all the same


async def test_a_file_that_shrinks_while_it_is_sent_is_an_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(600_000))

    class Shrinking(ASGIServerSide):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if message["type"] == "http.response.body":
                os.truncate(path, 300_000)  # after the first chunk: a later read comes up short

    async def app(request: Request) -> Response:
        return Response(200, body=FileBody(path=path))

    server = Shrinking()
    with pytest.raises(FileTooShort):
        await call(app, http_scope(), server)
    assert server.headers()[b"content-length"] == b"600000"
    assert server.sent[-1]["more_body"] is True  # no last message: the ASGI server aborts the response


async def test_file_region_from_a_descriptor_is_sent_and_closed(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)

    async def app(request: Request) -> Response:
        return Response(200, body=FileBody(fd=fd, offset=3, count=4))

    server = await call(app, http_scope(extensions={"http.response.pathsend": {}}))
    assert server.body() == b"3456"
    assert server.headers()[b"content-length"] == b"4"
    with pytest.raises(OSError):
        os.fstat(fd)  # the server side owns the descriptor and closed it


async def with_trailers(request: Request) -> Response:
    async def trailers() -> RawHeaders:
        called.append("trailers")
        return [(b"x-checksum", b"abc")]

    return Response(200, body=b"data", trailers=trailers)


called: list[str] = []


async def test_trailers_when_offered() -> None:
    called.clear()
    server = await call(with_trailers, http_scope(extensions={"http.response.trailers": {}}))
    assert server.start()["trailers"] is True
    assert server.sent[-1] == {
        "type": "http.response.trailers",
        "headers": [(b"x-checksum", b"abc")],
        "more_trailers": False,
    }
    assert called == ["trailers"]


async def test_trailers_are_still_called_but_not_sent_when_not_offered() -> None:
    called.clear()
    server = await call(with_trailers, http_scope())
    assert "trailers" not in server.start()
    assert [m["type"] for m in server.sent] == ["http.response.start", "http.response.body"]
    assert called == ["trailers"]


async def early_hints(request: Request) -> Response:
    await request.send_interim(103, [(b"link", b"</a.css>; rel=preload"), (b"x-other", b"1")])
    return Response(200, body=b"page")


async def test_early_hints_when_offered() -> None:
    server = await call(early_hints, http_scope(extensions={"http.response.early_hint": {}}))
    assert server.sent[0] == {"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]}
    assert server.body() == b"page"


async def test_early_hints_dropped_when_not_offered() -> None:
    server = await call(early_hints, http_scope())
    assert [m["type"] for m in server.sent] == ["http.response.start", "http.response.body"]


async def test_server_info_reflects_the_offered_extensions() -> None:
    infos: list[ServerInfo] = []

    async def app(request: Request) -> Response:
        infos.append(request.server_info)
        return Response(200)

    bridge = to_asgi(app)
    for extensions in ({}, {"http.response.early_hint": {}}, {}):
        server = ASGIServerSide()
        await bridge(http_scope(extensions=extensions), server.receive, server.send)
    assert not infos[0].supports(EXT_EARLY_HINTS)
    assert infos[1].supports(EXT_EARLY_HINTS)
    assert infos[2] is infos[0]  # one ServerInfo per set of extensions


async def test_wait_disconnected_is_backed_by_http_disconnect() -> None:
    states: list[bool] = []

    async def app(request: Request) -> Response:
        states.append(request.disconnected)
        await request.wait_disconnected()
        states.append(request.disconnected)
        return Response(200)

    server = ASGIServerSide()
    handler = asyncio.ensure_future(to_asgi(app)(http_scope(), server.receive, server.send))
    await asyncio.sleep(0.01)
    assert not handler.done()
    server.disconnect()
    await handler
    assert states == [False, True]
    assert server.sent == []  # the client left: send raised OSError, which ended the response quietly


async def test_body_read_keeps_chunks_received_while_watching_for_disconnect() -> None:
    async def app(request: Request) -> Response:
        watcher = asyncio.ensure_future(request.wait_disconnected())
        await asyncio.sleep(0.01)
        body = await request.body.read()
        watcher.cancel()
        return Response(200, body=body)

    scope = http_scope(method="POST", headers=[(b"content-length", b"6")])
    server = await call(app, scope, ASGIServerSide([b"ab", b"cd", b"ef"]))
    assert server.body() == b"abcdef"


@pytest.mark.parametrize("raise_when_gone", [True, False], ids=["send-raises", "send-drops"])
async def test_client_leaving_mid_stream_closes_the_apps_stream(raise_when_gone: bool) -> None:
    # send-drops: uvicorn's httptools protocol; the stream stops on http.disconnect instead.
    outcome: list[str] = []
    server = ASGIServerSide(raise_when_gone=raise_when_gone)

    async def events() -> AsyncIterator[bytes]:
        try:
            for index in range(1_000_000):
                if index == 2:
                    server.disconnect()
                yield b"event %d\n" % index
                await asyncio.sleep(0)
        finally:
            outcome.append("closed")

    async def app(request: Request) -> Response:
        return Response(200, body=events())

    await call(app, http_scope(), server)
    assert outcome == ["closed"]
    assert server.body() == b"event 0\nevent 1\n"


async def test_app_error_before_the_response_reaches_the_asgi_server() -> None:
    async def app(request: Request) -> Response:
        raise LookupError("bug")

    with pytest.raises(LookupError):
        await call(app, http_scope())


async def test_upgrade_over_asgi_http_is_refused() -> None:
    async def app(request: Request) -> Response:
        async def upgraded(stream: Any) -> None:
            raise AssertionError("never called")

        return Response(101, [(b"upgrade", b"x")], upgrade=upgraded)

    with pytest.raises(Exception, match="upgrade"):
        await call(app, http_scope())


async def test_websocket_scope_not_accepted_is_refused() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await to_asgi(hello)({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]


async def test_websocket_scope_is_a_pyre_websocket_session() -> None:
    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.receive", "bytes": b"\x00"},
        {"type": "websocket.disconnect", "code": 4000, "reason": "bye"},
    ]
    sent: list[dict[str, Any]] = []
    seen: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(request: Request) -> Response:
        assert request.server_info.supports(EXT_WEBSOCKET)
        seen.append((request.method, request.scheme, request.path))
        session: WebSocketSession = request.extensions[EXT_WEBSOCKET]  # type: ignore[assignment]
        await session.accept("chat", [(b"x-room", b"1")])
        while (message := await session.receive()) is not None:
            await session.send(message)
        seen.append((session.close_code, session.close_reason))
        with pytest.raises(ClientDisconnected):
            await session.send("late")
        return Response(200)

    scope = {"type": "websocket", "scheme": "wss", "path": "/ws", "headers": []}
    await to_asgi(app)(scope, receive, send)
    assert seen == [("GET", "https", "/ws"), (4000, "bye")]
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-room", b"1")]},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.send", "bytes": b"\x00"},
    ]


async def test_one_server_info_for_http_websocket_and_lifespan() -> None:
    # PYRE-REQ-15: the same object for every request and for lifespan, WebSocket handshakes included.
    infos: list[ServerInfo] = []

    class App:
        @contextlib.asynccontextmanager
        async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
            infos.append(server)
            yield

        async def __call__(self, request: Request) -> Response:
            infos.append(request.server_info)
            return Response(200)

    bridge = to_asgi(App())
    await run_lifespan(bridge, {})
    server = ASGIServerSide()
    await bridge(http_scope(), server.receive, server.send)
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        pass

    await bridge({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    assert len(infos) == 3
    assert infos[0] is infos[1] is infos[2]
    assert infos[0].supports(EXT_WEBSOCKET)


# -- lifespan -----------------------------------------------------------------------------------


class LifespanApp:
    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        self.events.append(f"startup {server.name.split('/')[0]}")
        if self.fail == "startup":
            raise RuntimeError("no database")
        state["db"] = "connected"
        yield
        self.events.append("shutdown")
        if self.fail == "shutdown":
            raise RuntimeError("flush failed")

    async def __call__(self, request: Request) -> Response:
        return Response(200, body=request.state["db"].encode())


async def run_lifespan(app: Any, state: dict[str, Any]) -> list[dict[str, Any]]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    await app(scope, receive, send)
    return sent


async def test_lifespan_maps_to_the_apps_lifespan_and_state() -> None:
    app = LifespanApp()
    bridge = to_asgi(app)
    state: dict[str, Any] = {}
    sent = await run_lifespan(bridge, state)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.events == ["startup pyre-asgi", "shutdown"]
    assert state == {"db": "connected"}
    # Requests see the lifespan state; an ASGI server passes a shallow copy in the scope.
    server = ASGIServerSide()
    await bridge(http_scope(state=dict(state)), server.receive, server.send)
    assert server.body() == b"connected"


async def test_failed_startup_reports_the_apps_message() -> None:
    sent = await run_lifespan(to_asgi(LifespanApp(fail="startup")), {})
    assert sent == [{"type": "lifespan.startup.failed", "message": "RuntimeError: no database"}]


async def test_failed_shutdown_reports_the_apps_message() -> None:
    sent = await run_lifespan(to_asgi(LifespanApp(fail="shutdown")), {})
    assert sent[-1] == {"type": "lifespan.shutdown.failed", "message": "RuntimeError: flush failed"}


async def test_app_without_lifespan_completes_lifespan() -> None:
    sent = await run_lifespan(to_asgi(hello), {})
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_request_body_too_large_from_iteration_answers_413() -> None:
    async def app(request: Request) -> Response:
        raise RequestBodyTooLarge(1)

    server = await call(app, http_scope())
    assert server.start()["status"] == 413
    assert server.body() == b"Content Too Large"


async def test_body_length_follows_the_http_version() -> None:
    lengths: list[int | None] = []

    async def app(request: Request) -> Response:
        lengths.append(request.body.length)
        return Response(200, body=await request.body.read())

    for version in ("1.1", "2"):
        scope = http_scope(method="POST")
        scope["http_version"] = version
        server = await call(app, scope, ASGIServerSide([b"h2 ", b"body"] if version == "2" else [b""]))
        assert server.body() == (b"" if version == "1.1" else b"h2 body")
    # HTTP/1.1 without Content-Length or Transfer-Encoding has no content; HTTP/2 may have some.
    assert lengths == [0, None]


async def test_client_gone_before_the_response_releases_file_and_stream(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    closed: list[str] = []

    class Events:
        def __aiter__(self) -> Events:
            return self

        async def __anext__(self) -> bytes:
            return b"never sent"

        async def aclose(self) -> None:
            closed.append("stream")

    async def app(request: Request) -> Response:
        if request.path == "/file":
            return Response(200, body=FileBody(fd=fd))
        return Response(200, body=Events())

    for target in ("/file", "/stream"):
        server = ASGIServerSide()
        server.disconnect()
        await call(app, http_scope(target), server)
        assert server.sent == []
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: the server side owned it
    assert closed == ["stream"]


async def test_a_request_leaves_no_reference_cycle_behind() -> None:
    # Garbage in cycles waits for the cyclic collector, whose pauses under load were
    # the latency tail of pyre-framework on uvicorn: ASGIRequest and its body referred
    # to each other, and held the ASGI server's receive and send with them.
    async def echo(request: Request) -> Response:
        assert request.body.length == 2
        content = await request.body.read()
        assert request.trailers is not None
        assert not request.disconnected
        return Response(200, [(b"content-type", b"text/plain")], content)

    async def serve_one() -> list[dict[str, Any]]:
        incoming = [{"type": "http.request", "body": b"hi", "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop() if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = http_scope("/echo", method="POST", headers=[(b"host", b"x"), (b"content-length", b"2")])
        await to_asgi(echo)(scope, receive, send)
        return sent

    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert (await serve_one())[-1]["body"] == b"hi"
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("app_headers", "sent_headers"),
    [
        ([(b"x-a", b"1")], [(b"x-a", b"1"), (b"content-length", b"5")]),
        ([(b"content-length", b"5"), (b"x-a", b"1")], [(b"content-length", b"5"), (b"x-a", b"1")]),
        ([(b"transfer-encoding", b"chunked"), (b"x-a", b"1")], [(b"x-a", b"1"), (b"content-length", b"5")]),
    ],
)
async def test_a_bytes_body_goes_out_with_exactly_one_content_length(
    app_headers: list[tuple[bytes, bytes]], sent_headers: list[tuple[bytes, bytes]]
) -> None:
    async def app(request: Request) -> Response:
        return Response(200, app_headers, b"hello")

    server = await call(app, http_scope())
    assert [tuple(pair) for pair in server.start()["headers"]] == sent_headers
    assert app_headers[-1] == (b"x-a", b"1")  # the app's own list is left as it was
