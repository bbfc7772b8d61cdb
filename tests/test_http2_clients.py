"""HTTP/2 with real clients: curl (TLS with ALPN, prior-knowledge h2c, ``Upgrade: h2c``), httpx
with ``http2=True``, h2load, and ``h2``'s client over a socket where a test needs to see flow
control or send a reset.  Each test runs on pyre-server and on hypercorn, the reference that also
uses ``h2``, except the last, on pyre-server's own ``--http`` and ``--h2c``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pathlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h2.errors
import h2.events
import httpx
import pytest
from asgi_apps.http2 import (
    SERVERS,
    STATIC,
    WAIT,
    Certificates,
    H2App,
    H2Client,
    Served,
    make_certificates,
    on_pyre_server,
    require,
    run,
)

CURL_TRANSPORTS = {
    "tls-alpn": ("--http2",),
    "prior-knowledge": ("--http2-prior-knowledge",),
    "upgrade": ("--http2",),
}


@pytest.fixture(params=list(SERVERS))
def server_name(request: pytest.FixtureRequest) -> str:
    """Each test that serves through ``SERVERS`` runs on pyre-server and on hypercorn."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("h2-tls"))


@pytest.fixture
def app() -> H2App:
    return H2App()


@dataclass
class CurlReply:
    version: str
    """curl's ``%{http_version}``: ``2`` when the exchange ran over HTTP/2."""
    heads: list[tuple[int, list[tuple[str, str]]]]
    """Each response head curl saw (interim ones first), then the trailers as a head of status 0."""
    body: bytes

    @property
    def status(self) -> int:
        return [status for status, _ in self.heads if status >= 200][-1]

    def header(self, name: str) -> str | None:
        head = next(fields for status, fields in self.heads if status >= 200)
        return next((value for key, value in head if key == name), None)


def parse_heads(dump: str) -> list[tuple[int, list[tuple[str, str]]]]:
    heads: list[tuple[int, list[tuple[str, str]]]] = []
    for line in dump.splitlines():
        if match := re.fullmatch(r"HTTP/[\d.]+ (\d{3}).*", line):
            heads.append((int(match.group(1)), []))
        elif ":" in line and heads:
            name, _, value = line.partition(":")
            heads[-1][1].append((name.strip().lower(), value.strip()))
    return heads


async def curl(
    served: Served, transport: str, certificates: Certificates, path: str, tmp: pathlib.Path, *args: str
) -> CurlReply:
    heads, body = tmp / "heads", tmp / "body"
    command = [require("curl"), "-sS", *CURL_TRANSPORTS[transport], "-D", str(heads), "-o", str(body)]
    command += ["-w", "%{http_version}", "--cacert", certificates.cafile, "--max-time", str(WAIT)]
    code, out, err = await run(*command, *args, served.url + path)
    assert code == 0, err.decode()
    return CurlReply(out.decode(), parse_heads(heads.read_text()), body.read_bytes())


@pytest.fixture(params=list(CURL_TRANSPORTS))
async def curl_to(
    request: pytest.FixtureRequest, server_name: str, app: H2App, certificates: Certificates
) -> AsyncIterator[tuple[Served, str]]:
    transport: str = request.param
    tls = certificates if transport == "tls-alpn" else None
    async with SERVERS[server_name](app, tls) as served:
        yield served, transport


async def test_curl_get_sees_the_request_over_http2(
    curl_to: tuple[Served, str], certificates: Certificates, tmp_path: pathlib.Path
) -> None:
    served, transport = curl_to
    reply = await curl(served, transport, certificates, "/request?a=1", tmp_path, "-H", "x-test: one")
    assert reply.version == "2"
    assert reply.status == 200
    seen = json.loads(reply.body)
    assert seen["http_version"] == "2"
    assert seen["method"] == "GET"
    assert (seen["path"], seen["query"], seen["target"]) == ("/request", "a=1", "/request?a=1")
    assert seen["scheme"] == ("https" if served.tls else "http")
    assert seen["authority"] == f"127.0.0.1:{served.port}"
    assert seen["x_test"] == ["one"]


async def test_curl_post_with_a_body(
    curl_to: tuple[Served, str], certificates: Certificates, tmp_path: pathlib.Path
) -> None:
    served, transport = curl_to
    payload = bytes(range(256)) * 1024  # 256 KiB: several DATA frames and window updates
    (tmp_path / "payload").write_bytes(payload)
    reply = await curl(
        served, transport, certificates, "/echo", tmp_path, "--data-binary", f"@{tmp_path / 'payload'}"
    )
    assert reply.status == 200
    assert reply.body == payload
    assert reply.header("x-sha256") == hashlib.sha256(payload).hexdigest()
    assert reply.header("x-method") == "POST"
    # curl upgrades only a request without a body; that one goes over HTTP/1.1.
    assert reply.version == ("1.1" if transport == "upgrade" else "2")


async def test_curl_shows_103_early_hints(
    curl_to: tuple[Served, str], certificates: Certificates, tmp_path: pathlib.Path
) -> None:
    served, transport = curl_to
    reply = await curl(served, transport, certificates, "/early-hints", tmp_path)
    assert reply.version == "2"
    statuses = [status for status, _ in reply.heads]
    assert statuses[:2] == [103, 200] if transport != "upgrade" else 103 in statuses
    hint = next(fields for status, fields in reply.heads if status == 103)
    assert ("link", "</style.css>; rel=preload; as=style") in hint
    assert reply.body == b"hinted"


async def test_curl_receives_trailers(
    curl_to: tuple[Served, str], certificates: Certificates, tmp_path: pathlib.Path
) -> None:
    served, transport = curl_to
    # TE: trailers, the one TE an HTTP/2 request may carry: hypercorn sends trailers only then.
    reply = await curl(served, transport, certificates, "/trailers", tmp_path, "-H", "te: trailers")
    assert reply.version == "2"
    assert reply.body == b"line 0\nline 1\nline 2\n"
    every_field = [pair for _, fields in reply.heads for pair in fields]
    assert ("x-checksum", "c0ffee") in every_field


async def test_curl_head_204_file_and_stream(
    curl_to: tuple[Served, str], certificates: Certificates, tmp_path: pathlib.Path
) -> None:
    served, transport = curl_to
    head = await curl(served, transport, certificates, "/", tmp_path, "--head")  # curl reads no content
    assert (head.version, head.status) == ("2", 200)
    assert head.header("content-length") == "5"
    empty = await curl(served, transport, certificates, "/no-content", tmp_path)
    assert (empty.status, empty.body, empty.header("x-app")) == (204, b"", "no-content")
    file = await curl(served, transport, certificates, "/file", tmp_path)
    assert (file.status, file.body) == (200, STATIC.read_bytes())
    stream = await curl(served, transport, certificates, "/stream?n=20", tmp_path)
    assert stream.body == b"".join(b"line %d\n" % i for i in range(20))


@pytest.fixture(params=["tls-alpn", "prior-knowledge"])
async def httpx_to(
    request: pytest.FixtureRequest, server_name: str, app: H2App, certificates: Certificates
) -> AsyncIterator[tuple[Served, httpx.AsyncClient]]:
    """One connection at most: every request of a test shares it.  Over cleartext the client
    offers HTTP/2 alone, which httpx speaks by prior knowledge."""
    tls = request.param == "tls-alpn"
    verify = certificates.client_context() if tls else True
    limits = httpx.Limits(max_connections=1)
    async with (
        SERVERS[server_name](app, certificates if tls else None) as served,
        httpx.AsyncClient(http1=tls, http2=True, verify=verify, limits=limits, timeout=WAIT) as http,
    ):
        yield served, http


async def test_httpx_get_post_head_204_file_stream(
    httpx_to: tuple[Served, httpx.AsyncClient],
) -> None:
    served, http = httpx_to
    reply = await http.get(served.url + "/request")
    assert reply.http_version == "HTTP/2"
    assert reply.json()["http_version"] == "2"
    posted = await http.post(served.url + "/echo", content=b"x" * 100_000)
    assert (posted.status_code, posted.content) == (200, b"x" * 100_000)
    head = await http.head(served.url + "/")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
    empty = await http.get(served.url + "/no-content")
    assert (empty.status_code, empty.content) == (204, b"")
    file = await http.get(served.url + "/file")
    assert file.content == STATIC.read_bytes()
    async with http.stream("GET", served.url + "/stream?n=50") as streamed:
        chunks = [chunk async for chunk in streamed.aiter_bytes()]
    assert b"".join(chunks) == b"".join(b"line %d\n" % i for i in range(50))


async def test_httpx_large_streamed_upload_to_an_app_that_reads_late(
    httpx_to: tuple[Served, httpx.AsyncClient], app: H2App
) -> None:
    served, http = httpx_to
    block = bytes(range(256)) * 256  # 64 KiB
    blocks = 128  # 8 MiB in all
    sent = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(blocks):
            sent += len(block)
            yield block

    answer = asyncio.ensure_future(http.post(served.url + "/gated-upload?id=late", content=upload()))
    # While the app reads nothing, flow control stops the upload far short of its end.
    await asyncio.sleep(0.5)
    assert not answer.done()
    assert sent < blocks * len(block) // 2
    app.seen.record("late")
    reply = await asyncio.wait_for(answer, WAIT)
    assert (reply.status_code, reply.text) == (200, str(blocks * len(block)))
    assert reply.headers["x-sha256"] == hashlib.sha256(block * blocks).hexdigest()


async def test_many_concurrent_streams_on_one_connection(httpx_to: tuple[Served, httpx.AsyncClient]) -> None:
    served, http = httpx_to
    count = 50
    replies = await asyncio.gather(
        *(http.get(served.url + f"/together?n={count}&i={i}") for i in range(count))
    )
    assert [reply.status_code for reply in replies] == [200] * count
    assert sorted(reply.text for reply in replies) == sorted(f"n={count}&i={i}" for i in range(count))
    assert {reply.http_version for reply in replies} == {"HTTP/2"}


@pytest.fixture(params=["tls-alpn", "prior-knowledge"])
async def h2_to(
    request: pytest.FixtureRequest, server_name: str, app: H2App, certificates: Certificates
) -> AsyncIterator[H2Client]:
    tls = certificates if request.param == "tls-alpn" else None
    async with SERVERS[server_name](app, tls) as served:
        client = await H2Client.connect(served, certificates)
        try:
            yield client
        finally:
            await client.close()


async def test_request_body_window_opens_only_as_the_app_reads(h2_to: H2Client, app: H2App) -> None:
    client = h2_to
    conn = client.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, client.request_headers("POST", "/gated-upload?id=window"))
    total = 4 * 1024 * 1024
    sent = 0
    # Send while the windows allow, reading the server's updates, until no update comes for a while.
    while sent < total:
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, total - sent)
        if room > 0:
            conn.send_data(stream, b"u" * room, end_stream=sent + room == total)
            sent += room
            await client.flush()
            continue
        try:
            await client.events(within=0.5)
        except TimeoutError:
            break
    # The app has read nothing: what the server let in is bounded by its windows, not the upload.
    assert 0 < sent <= 2 * 1024 * 1024, sent
    app.seen.record("window")
    replies: list[h2.events.Event] = []
    while not any(isinstance(event, h2.events.StreamEnded) for event in replies):
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, total - sent)
        if room > 0 and sent < total:
            conn.send_data(stream, b"u" * room, end_stream=sent + room == total)
            sent += room
            await client.flush()
            continue
        replies += await client.events()
        assert not client.closed
    body = b"".join(event.data for event in replies if isinstance(event, h2.events.DataReceived))
    assert body == b"%d" % total


async def test_a_reset_mid_response_is_a_disconnect_for_the_app(h2_to: H2Client, app: H2App) -> None:
    client = h2_to
    conn = client.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, client.request_headers("GET", "/endless?id=reset"), end_stream=True)
    await client.flush()
    received = 0
    while received < 32768:
        for event in await client.events():
            if isinstance(event, h2.events.DataReceived):
                received += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
    conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
    await client.flush()
    assert await app.seen.wait("reset-closed")
    assert await app.seen.wait("reset-disconnected") is True
    # The connection still serves another stream.
    other = conn.get_next_available_stream_id()
    conn.send_headers(other, client.request_headers("GET", "/"), end_stream=True)
    await client.flush()
    body = b""
    ended = False
    while not ended:
        for event in await client.events():
            if isinstance(event, h2.events.DataReceived) and event.stream_id == other:
                body += event.data
            ended = ended or (isinstance(event, h2.events.StreamEnded) and event.stream_id == other)
    assert body == b"hello"


async def test_trailers_arrive_as_a_last_headers_frame(h2_to: H2Client) -> None:
    client = h2_to
    conn = client.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, client.request_headers("GET", "/trailers", te="trailers"), end_stream=True)
    await client.flush()
    events: list[h2.events.Event] = []
    while not any(isinstance(event, h2.events.StreamEnded) for event in events):
        events += await client.events()
    trailers = next(event for event in events if isinstance(event, h2.events.TrailersReceived))
    assert (b"x-checksum", b"c0ffee") in trailers.headers
    ended = next(event for event in events if isinstance(event, h2.events.StreamEnded))
    assert trailers.stream_ended is ended


@pytest.mark.parametrize("tls", [True, False], ids=["tls-alpn", "prior-knowledge"])
async def test_h2load_bounded_load_all_succeed(
    server_name: str, app: H2App, certificates: Certificates, tls: bool
) -> None:
    """A bounded load (no timing asserted): every request over a few connections, each with
    many streams at once, gets its 200."""
    h2load = require("h2load")
    async with SERVERS[server_name](app, certificates if tls else None) as served:
        code, out, err = await run(h2load, "-n", "400", "-c", "4", "-m", "20", served.url + "/")
    report = out.decode()
    assert code == 0, report + err.decode()
    assert "400 succeeded, 0 failed, 0 errored" in report, report
    assert "status codes: 400 2xx" in report, report
    assert "Application protocol: h2" in report if tls else "h2c" in report, report


async def test_an_empty_data_frame_does_not_end_the_body(h2_to: H2Client) -> None:
    """DATA frames may be empty (RFC 9113 section 6.1); the app still reads the whole body."""
    client = h2_to
    conn = client.conn
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, client.request_headers("POST", "/echo"))
    for part in (b"abc", b"", b"def"):
        conn.send_data(stream, part)
        await client.flush()
        await asyncio.sleep(0.05)  # each in a read of its own
    conn.end_stream(stream)
    await client.flush()
    events: list[h2.events.Event] = []
    while not any(isinstance(event, h2.events.StreamEnded | h2.events.StreamReset) for event in events):
        events += await client.events()
    body = b"".join(event.data for event in events if isinstance(event, h2.events.DataReceived))
    assert body == b"abcdef"


@pytest.mark.parametrize(
    ("options", "tls", "curl_flag", "expected"),
    [
        ({"http": "1"}, True, "--http2", "1.1"),  # --http 1: ALPN offers no h2
        ({}, True, "--http1.1", "1.1"),  # --http auto: a client that asks for HTTP/1.1 gets it
        ({}, False, "--http2-prior-knowledge", None),  # cleartext without --h2c: no HTTP/2
        ({"http": "2"}, False, "--http2-prior-knowledge", "2"),  # --http 2: h2c alone
        ({"http": "2"}, False, "--http1.1", None),  # ... and no HTTP/1.1
    ],
    ids=["http-1-tls", "auto-tls-http1-client", "cleartext-no-h2c", "http-2-h2c", "http-2-refuses-http1"],
)
async def test_the_http_flag_selects_the_protocol(
    app: H2App,
    certificates: Certificates,
    options: dict[str, str],
    tls: bool,
    curl_flag: str,
    expected: str | None,
) -> None:
    """What pyre-server's ``--http`` and ``--h2c`` let a real client speak (``None``: no answer)."""
    options = {"h2c": False, **options}
    async with on_pyre_server(app, certificates if tls else None, **options) as served:
        code, out, _ = await run(
            require("curl"), "-sS", curl_flag, "--cacert", certificates.cafile, "--max-time", "10",
            "-o", "/dev/null", "-w", "%{http_version} %{response_code}", served.url + "/",
        )  # fmt: skip
    if expected is None:
        assert code != 0 or out.decode().split()[1] == "000", out
    else:
        assert (code, out.decode()) == (0, f"{expected} 200")
