"""The conformance kit's behaviours that an app sees, run over HTTP/2 against pyre-server.

The kit drives HTTP/1.1 bytes, so here its apps (``pyre.spec.testing.conformance.apps``) are
driven by httpx with ``http2=True`` (prior-knowledge h2c) and, where httpx cannot show the
thing (interim responses, trailers, a reset, flow control), by ``h2``'s client.  Each test
names the kit's behaviour it mirrors and asserts the same outcome.

The apps run under the kit's validator, as in the kit: a request that breaks a server-side
rule of the document is answered 500 with the violated ID, whatever the test checks.

Not run here, because HTTP/2 has no such thing: the HTTP/1.0 cases, chunked framing and
keep-alive reuse (HTTP/2 frames content and manages the connection itself: an app's own
``transfer-encoding`` or ``connection: close`` is only checked not to be sent),
``Expect: 100-continue`` (no HTTP/2 client at hand sends it), an unread body parsed as a
request, request smuggling, and the byte-level cases of the request line and header syntax (h2
and HPACK decode those before pyre-server sees them; torture/test_http2_attacks.py sends the
malformed HTTP/2 forms).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import h2.errors
import h2.events
import httpx
import pytest
from asgi_apps.http2 import WAIT, H2Client, Served, on_pyre_server

import pyre.spec
from pyre.spec.testing.conformance import apps

KIT_FILE = pathlib.Path(apps.FILE_PATH).read_bytes()
"""What the ``responses`` app serves as a FileBody."""


def new_key() -> str:
    return uuid.uuid4().hex


class Kit:
    """One kit app on pyre-server, an httpx HTTP/2 client and a raw ``h2`` one."""

    def __init__(self, served: Served, http: httpx.AsyncClient, raw: H2Client) -> None:
        self.served = served
        self.http = http
        self.raw = raw

    def url(self, path: str) -> str:
        return self.served.url + path

    async def get(self, path: str, **options: Any) -> httpx.Response:
        reply = await self.http.get(self.url(path), **options)
        assert reply.http_version == "HTTP/2"
        return reply

    async def post_control(self, key: str, value: str = "go") -> None:
        assert (await self.get(f"/_control/post?id={key}&value={value}")).text == "posted"

    async def posted(self, key: str) -> str:
        return (await self.get(f"/_control/wait?id={key}")).text


@pytest.fixture
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    app: pyre.spec.Application = request.param
    async with (
        on_pyre_server(app) as served,
        httpx.AsyncClient(http1=False, http2=True, timeout=WAIT) as http,
    ):
        raw = await H2Client.connect(served)
        try:
            yield Kit(served, http, raw)
        finally:
            await raw.close()


def uses(app: pyre.spec.Application) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("kit", [app], indirect=True, ids=[getattr(app, "__name__", "app")])


# -- request attributes and bodies (kit sections 3 to 5) ------------------------------------------


@uses(apps.echo)
async def test_request_attributes(kit: Kit) -> None:
    """PYRE-REQ-*: the request as the app sees it, with pseudo-headers mapped."""
    reply = await kit.get("/a%20b/c?x=1&y=%20", headers={"x-test": "one"})
    seen = reply.json()
    assert seen["method"] == "GET"
    assert (seen["target"], seen["raw_path"], seen["path"]) == ("/a%20b/c?x=1&y=%20", "/a%20b/c", "/a b/c")
    assert seen["query"] == "x=1&y=%20"
    assert seen["http_version"] == "2"
    assert seen["scheme"] == "http"
    assert seen["authority"] == f"127.0.0.1:{kit.served.port}"
    names = [name for name, _ in seen["headers"]]
    assert ["x-test", "one"] in seen["headers"]
    assert not any(name.startswith(":") for name in names), "pseudo-headers are not header fields"
    assert (seen["body"], seen["trailers"]) == ("", [])


@uses(apps.echo)
async def test_request_body_with_and_without_a_length(kit: Kit) -> None:
    """PYRE-BODY-*: the content arrives whole; ``length`` is the declared content-length."""
    sized = (await kit.http.post(kit.url("/"), content=b"x" * 70_000)).json()
    assert (sized["body"], sized["body_length"]) == ("x" * 70_000, 70_000)

    async def parts() -> AsyncIterator[bytes]:
        yield b"one "
        yield b"two"

    unsized = (await kit.http.post(kit.url("/"), content=parts())).json()
    assert (unsized["body"], unsized["body_length"]) == ("one two", None)


@uses(apps.trailers)
async def test_request_trailers(kit: Kit) -> None:
    """PYRE-HDR-7 request-trailers: None before the body is read, then the trailer section."""
    result = await kit.raw.exchange("POST", "/echo", b"data", trailers=[("x-sum", "42")])
    report = json.loads(result.body)
    assert report == {"before": None, "body": "data", "trailers": [["x-sum", "42"]]}


@uses(apps.trailers)
async def test_empty_trailers(kit: Kit) -> None:
    """PYRE-HDR-7 empty-trailers: without a trailer section, an empty Headers once read."""
    assert (await kit.http.post(kit.url("/echo"), content=b"ok")).json()["trailers"] == []


@uses(apps.slow_consumer)
async def test_upload_backpressure(kit: Kit) -> None:
    """PYRE-BODY-9: while the app reads nothing the server stops taking the upload (its window
    stays shut); it takes the rest when the app reads."""
    key = new_key()
    conn = kit.raw.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, kit.raw.request_headers("POST", f"/upload?id={key}"))
    total, sent = 8 * 1024 * 1024, 0
    while sent < total:
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, total - sent)
        if room:
            conn.send_data(stream, b"u" * room, end_stream=sent + room == total)
            sent += room
            await kit.raw.flush()
            continue
        try:
            await kit.raw.events(within=1.0)
        except TimeoutError:
            break
    assert sent < total // 2, f"the server took {sent} bytes while the app read none"
    await kit.post_control(key)
    events: list[h2.events.Event] = []
    while not any(isinstance(event, h2.events.StreamEnded) for event in events):
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, total - sent)
        if room and sent < total:
            conn.send_data(stream, b"u" * room, end_stream=sent + room == total)
            sent += room
            await kit.raw.flush()
            continue
        events += await kit.raw.events()
    body = b"".join(event.data for event in events if isinstance(event, h2.events.DataReceived))
    assert json.loads(body) == {"read": total, "too_large": False}


# -- responses (kit section 6) ---------------------------------------------------------------------


@uses(apps.responses)
async def test_fixed_responses(kit: Kit) -> None:
    """PYRE-RESP-*: bytes with their length, HEAD, 204 and 304 without content, files, a big body."""
    plain = await kit.get("/bytes")
    assert (plain.content, plain.headers["content-length"]) == (b"hello, world\n", "13")
    head = await kit.http.head(kit.url("/bytes"))
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "13")
    empty = await kit.get("/204")
    assert (empty.status_code, empty.content, empty.headers["x-app"]) == (204, b"", "no-content")
    assert "content-length" not in empty.headers
    unchanged = await kit.get("/304")
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", '"v1"')
    whole = KIT_FILE
    file_reply = await kit.get("/file")
    assert file_reply.content == whole
    assert file_reply.headers["content-length"] == str(len(whole))
    assert (await kit.get("/file-range")).content == whole[10:110]
    assert (await kit.get("/file-fd")).content == whole[5:]
    assert (await kit.get("/big")).content == bytes(range(256)) * 4096
    assert (await kit.get("/status?code=418")).status_code == 418


@uses(apps.responses)
async def test_connection_specific_fields_are_not_sent(kit: Kit) -> None:
    """An app's ``connection: close`` must not reach an HTTP/2 client (RFC 9113 section 8.2.2):
    h2's client treats one as a protocol error."""
    result = await kit.raw.exchange("GET", "/close")
    assert (result.status, result.body) == (200, b"closing")
    assert b"connection" not in result.head


@uses(apps.responses)
async def test_early_hints(kit: Kit) -> None:
    """PYRE-RESP-21: the 103 comes first with its fields, then the final response."""
    result = await kit.raw.exchange("GET", "/early-hints")
    assert [hint[b":status"] for hint in result.interim] == [b"103"]
    assert result.interim[0][b"link"] == b"</style.css>; rel=preload; as=style"
    assert (result.status, result.body) == (200, b"hinted")


@uses(apps.streaming)
async def test_streamed_responses(kit: Kit) -> None:
    """PYRE-RESP-*: streamed chunks in order, an app content-length kept, an empty stream."""
    assert (await kit.get("/chunks?n=5")).content == b"".join(b"chunk-%d\n" % i for i in range(5))
    with_length = await kit.get("/with-length")
    assert (with_length.content, with_length.headers["content-length"]) == (b"0123456789", "10")
    assert (await kit.get("/empty")).content == b""


@uses(apps.unchecked)
async def test_the_apps_transfer_encoding_is_dropped(kit: Kit) -> None:
    """PYRE-RESP-* app-te-removed: HTTP/2 frames the content; an app's transfer-encoding is not sent
    (h2's client treats one as a protocol error)."""
    app_te = await kit.raw.exchange("GET", "/app-te")
    assert app_te.body == b"framed once"
    assert b"transfer-encoding" not in app_te.head


@uses(apps.streaming)
async def test_a_chunk_is_not_held(kit: Kit) -> None:
    """PYRE-RESP-* chunk-not-held: the first chunk reaches the client before the app yields the next."""
    key = new_key()
    async with kit.http.stream("GET", kit.url(f"/gated?id={key}")) as reply:
        chunks = reply.aiter_bytes()
        first = await asyncio.wait_for(anext(chunks), WAIT)
        assert first == b"first\n"
        await kit.post_control(key)
        rest = b"".join([chunk async for chunk in chunks])
    assert rest == b"second\n"


@uses(apps.trailers)
async def test_response_trailers(kit: Kit) -> None:
    """PYRE-RESP-* response-trailers: the app's trailers after the content."""
    result = await kit.raw.exchange("GET", "/send", te="trailers")
    assert result.body == b"with trailers"
    assert result.trailers == {b"x-checksum": b"c0ffee"}


# -- disconnects and errors (kit sections 3.6, 5.7, 8) ---------------------------------------------


async def reset_after(kit: Kit, path: str, body: bytes | None = None, head_first: bool = False) -> None:
    """Open a stream, optionally wait for its head, then reset it (the client leaves that request)."""
    conn = kit.raw.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(
        stream, kit.raw.request_headers("POST" if body else "GET", path), end_stream=body is None
    )
    if body is not None:
        conn.send_data(stream, body)
    await kit.raw.flush()
    while head_first:
        events = await kit.raw.events()
        head_first = not any(isinstance(event, h2.events.ResponseReceived) for event in events)
    else:
        await asyncio.sleep(0.2)  # the app has begun waiting
    conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
    await kit.raw.flush()


@uses(apps.disconnect)
async def test_wait_disconnected(kit: Kit) -> None:
    """PYRE-REQ-17: a reset stream makes wait_disconnected() return, and disconnected true."""
    key = new_key()
    await reset_after(kit, f"/wait?id={key}")
    assert await kit.posted(key) == "disconnected=True"


@uses(apps.disconnect)
async def test_truncated_body_raises(kit: Kit) -> None:
    """PYRE-BODY-14: a stream reset mid-body makes the app's read raise ClientDisconnected."""
    key = new_key()
    await reset_after(kit, f"/read?id={key}", body=b"only part of it")
    assert await kit.posted(key) == "ClientDisconnected"


@uses(apps.disconnect)
async def test_stream_closed_on_disconnect(kit: Kit) -> None:
    """PYRE-ERR-4: a reset during a streamed response stops and closes the app's stream."""
    key = new_key()
    await reset_after(kit, f"/stream?id={key}", head_first=True)
    assert await kit.posted(key) == "stream closed"


@uses(apps.errors)
async def test_errors(kit: Kit) -> None:
    """PYRE-ERR-1..3: a 500 without the details; a failure mid-stream resets that stream (the
    HTTP/2 form of an aborted response) and the connection goes on."""
    failed = await kit.raw.exchange("GET", "/raise")
    assert failed.status == 500
    assert b"conformance-secret" not in failed.body
    for path in ("/raise-mid-stream", "/raise-with-length"):
        broken = await kit.raw.exchange("GET", path)
        assert broken.reset == h2.errors.ErrorCodes.INTERNAL_ERROR, path
        assert b"conformance-secret" not in broken.body
    survived = await kit.raw.exchange("GET", "/_control/post?id=x&value=y")
    assert (survived.status, survived.body) == (200, b"posted")


@uses(apps.lifespan)
async def test_lifespan_state(kit: Kit) -> None:
    """PYRE-LIFE-*: the state lifespan startup filled reaches requests over HTTP/2."""
    first = (await kit.get("/")).json()
    second = (await kit.get("/")).json()
    assert first["started_by"] == second["started_by"]
    assert first["started_by"].startswith("pyre-server")
    assert second["requests"] == first["requests"] + 1
