"""HTTP/2 (RFC 9113): prior-knowledge h2c, TLS by ALPN, Upgrade: h2c, requests and responses.

The client is h2's own client-side connection over a real socket (``H2Client``),
and for what h2 would refuse to send, raw frames (hyperframe); httpx and curl
are the real clients.  The limits and attacks are in test_server_http2_limits.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trustme
from h2.errors import ErrorCodes
from hyperframe.frame import PriorityFrame
from server_support import echo, hello, serve

from pyre.server import Config
from pyre.server._cli import parse
from pyre.spec import EXT_TLS, ClientDisconnected, FileBody, Headers, Request, Response

TIMEOUT = 5.0


class H2Client:
    """h2's client side over a real connection: send requests, collect what comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None, validate_outbound_headers=False)
        )
        self.events: list[h2.events.Event] = []
        self.closed = False

    @classmethod
    async def connect(
        cls, port: int, ssl_context: ssl.SSLContext | None = None, settings: dict[int, int] | None = None
    ) -> H2Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
        client = cls(reader, writer)
        client.h2.initiate_connection()
        if settings:
            client.h2.update_settings(settings)
        await client.flush()
        return client

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def send(self, data: bytes) -> None:
        """Raw bytes, after what h2 queued."""
        await self.flush()
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self,
        method: bytes = b"GET",
        path: bytes = b"/",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
        end: bool = True,
        authority: bytes = b"example.com",
    ) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        fields = [(b":method", method), (b":scheme", b"http"), (b":path", path), (b":authority", authority)]
        self.h2.send_headers(stream_id, fields + (headers or []), end_stream=end and body is None)
        if body is not None:
            self.h2.send_data(stream_id, body, end_stream=end)
        await self.flush()
        return stream_id

    async def receive(self) -> list[h2.events.Event]:
        """One read's events (empty once the server closed)."""
        data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        if not data:
            self.closed = True
            return []
        events = self.h2.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        await self.flush()
        self.events.extend(events)
        return events

    async def until(self, done: Any) -> list[h2.events.Event]:
        """Receive until ``done(events so far)``; the events."""
        while not done(self.events):
            if self.closed:
                raise AssertionError(f"closed; events: {self.events}")
            await self.receive()
        return self.events

    async def response(self, stream_id: int) -> Reply:
        def ended(events: list[h2.events.Event]) -> bool:
            return any(
                isinstance(e, h2.events.StreamEnded | h2.events.StreamReset) and e.stream_id == stream_id
                for e in events
            )

        await self.until(ended)
        return Reply.of(self.events, stream_id)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


class Reply:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.interim: list[list[tuple[bytes, bytes]]] = []
        self.body = b""
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.reset: int | None = None

    @classmethod
    def of(cls, events: list[h2.events.Event], stream_id: int) -> Reply:
        reply = cls()
        for event in events:
            if getattr(event, "stream_id", None) != stream_id:
                continue
            if isinstance(event, h2.events.InformationalResponseReceived):
                reply.interim.append(list(event.headers or []))
            elif isinstance(event, h2.events.ResponseReceived):
                fields = list(event.headers or [])
                reply.status = int(dict(fields)[b":status"])
                reply.headers = [(n, v) for n, v in fields if not n.startswith(b":")]
            elif isinstance(event, h2.events.DataReceived):
                reply.body += event.data or b""
            elif isinstance(event, h2.events.TrailersReceived):
                reply.trailers = list(event.headers or [])
            elif isinstance(event, h2.events.StreamReset):
                reply.reset = event.error_code
        return reply

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


@pytest.fixture
async def h2c() -> AsyncIterator[Any]:
    """Connect an H2Client to a server: ``async with h2c(app, **options) as (server, client)``."""
    clients: list[H2Client] = []

    def connect(app: Any = echo, **options: Any) -> Any:
        options.setdefault("h2c", True)

        class Context:
            async def __aenter__(self) -> tuple[Any, H2Client]:
                self.serving = serve(app, **options)
                server = await self.serving.__aenter__()
                client = await H2Client.connect(server.port)
                clients.append(client)
                return server, client

            async def __aexit__(self, *exc: object) -> None:
                for client in clients:
                    await client.close()
                await self.serving.__aexit__(*exc)

        return Context()

    return connect


# Prior-knowledge h2c: the same Request as on HTTP/1.1


async def test_get_maps_pseudo_headers_to_the_request(h2c: Any) -> None:
    seen: list[Request] = []

    async def app(request: Request) -> Response:
        seen.append(request)
        return Response(200, [(b"content-type", b"text/plain")], b"hi")

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request(path=b"/a%20b?x=1", headers=[(b"x-one", b"1")]))
    assert reply.status == 200
    assert reply.body == b"hi"
    assert reply.header(b"content-length") == b"2"
    assert reply.header(b"server") == b"pyre"
    assert reply.header(b"date") is not None
    request = seen[0]
    assert (request.method, request.target, request.path, request.query) == (
        "GET",
        b"/a%20b?x=1",
        "/a b",
        b"x=1",
    )
    assert request.http_version == "2"
    assert request.scheme == "http"
    assert request.authority == "example.com"
    assert request.headers["host"] == "example.com"
    assert request.headers["x-one"] == "1"
    assert not any(name.startswith(":") for name, _ in request.headers)


async def test_post_body_of_many_windows(h2c: Any) -> None:
    body = os.urandom(300_000)  # more than the stream's and the default connection window
    async with h2c(echo) as (_server, client):
        stream_id = client.h2.get_next_available_stream_id()
        client.h2.send_headers(
            stream_id, [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"h")]
        )
        sent = 0
        while sent < len(body):
            window = min(client.h2.local_flow_control_window(stream_id), client.h2.max_outbound_frame_size)
            if window == 0:
                await client.receive()
                continue
            piece = body[sent : sent + window]
            sent += len(piece)
            client.h2.send_data(stream_id, piece, end_stream=sent == len(body))
            await client.flush()
        reply = await client.response(stream_id)
    assert reply.status == 200
    assert reply.body == body


async def test_authority_and_host_that_differ_end_the_connection(h2c: Any) -> None:
    """RFC 9113 section 8.3.1: malformed; h2 makes it a connection error (GOAWAY PROTOCOL_ERROR)."""
    async with h2c(echo) as (_server, client):
        same = await client.response(await client.request(headers=[(b"host", b"example.com")]))
        await client.request(headers=[(b"host", b"other.example")])
        events = await client.until(
            lambda events: any(isinstance(e, h2.events.ConnectionTerminated) for e in events)
        )
    assert same.status == 200
    goaway = next(e for e in events if isinstance(e, h2.events.ConnectionTerminated))
    assert goaway.error_code == ErrorCodes.PROTOCOL_ERROR


async def test_empty_data_frames_neither_end_the_body_nor_lose_the_trailers(h2c: Any) -> None:
    seen: list[object] = []

    async def app(request: Request) -> Response:
        body = await request.body.read()
        seen.append(request.trailers)
        return Response(200, [], body)

    async with h2c(app) as (_server, client):
        stream_id = await client.request(b"POST", end=False)
        for part in (b"abc", b"", b"def"):
            client.h2.send_data(stream_id, part)
        client.h2.send_data(stream_id, b"", end_stream=True)  # as httpx ends a body
        await client.flush()
        reply = await client.response(stream_id)
    assert reply.body == b"abcdef"
    assert seen == [Headers(())]


async def test_request_trailers_and_expect_continue(h2c: Any) -> None:
    async with h2c(echo) as (_server, client):
        stream_id = await client.request(b"POST", headers=[(b"expect", b"100-continue")], end=False)
        await client.until(
            lambda events: any(isinstance(e, h2.events.InformationalResponseReceived) for e in events)
        )
        client.h2.send_data(stream_id, b"content")
        client.h2.send_headers(stream_id, [(b"x-check", b"ok")], end_stream=True)
        await client.flush()
        reply = await client.response(stream_id)
    assert reply.interim == [[(b":status", b"100")]]
    assert reply.body == b"content"
    assert reply.header(b"x-trailer-x-check") == b"ok"


async def test_request_body_window_opens_only_as_the_app_reads(h2c: Any) -> None:
    """Backpressure: the client may send a window's worth; more only once the app has read it."""
    read = asyncio.Event()
    chunks: list[int] = []

    async def app(request: Request) -> Response:
        await read.wait()
        async for data in request.body:
            chunks.append(len(data))
        return Response(200, [], b"%d" % sum(chunks))

    async with h2c(app) as (_server, client):
        stream_id = await client.request(b"POST", end=False)
        for offset in range(0, 65535, 16384):
            client.h2.send_data(stream_id, b"x" * min(16384, 65535 - offset))
        await client.flush()
        # Nothing read yet: no WINDOW_UPDATE for the stream comes, and the client may send no more.
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + 0.5
        while loop.time() < quiet_until:
            try:
                await asyncio.wait_for(client.receive(), quiet_until - loop.time())
            except TimeoutError:
                break
        opened = [
            e for e in client.events if isinstance(e, h2.events.WindowUpdated) and e.stream_id == stream_id
        ]
        with_window = [client.h2.local_flow_control_window(stream_id), len(opened)]
        read.set()
        await client.until(
            lambda events: any(
                isinstance(e, h2.events.WindowUpdated) and e.stream_id == stream_id for e in events
            )
        )
        assert client.h2.local_flow_control_window(stream_id) > 0
        client.h2.send_data(stream_id, b"y" * 1000, end_stream=True)
        await client.flush()
        reply = await client.response(stream_id)
    assert with_window == [0, 0]
    assert reply.body == b"66535"


async def test_content_the_app_never_reads_is_given_back_to_the_connection_window(h2c: Any) -> None:
    """More unread content than the connection window (1 MiB), over many streams: no stall."""

    async def app(request: Request) -> Response:
        return Response(200, [], b"not read")

    async with h2c(app) as (_server, client):
        for _ in range(24):
            stream_id = await client.request(b"POST", end=False)
            for offset in range(0, 65535, 16384):
                client.h2.send_data(stream_id, b"x" * min(16384, 65535 - offset))
            await client.flush()
            reply = await client.response(stream_id)
            assert reply.status == 200
        window = client.h2.outbound_flow_control_window
        last = await client.response(await client.request(b"POST", body=b"y" * 1000))
    assert window > 65535
    assert last.status == 200


# Responses


async def test_streaming_response_with_trailers(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b"one,"
            await asyncio.sleep(0)
            yield b"two"

        async def trailers() -> list[tuple[bytes, bytes]]:
            return [(b"x-digest", b"abc")]

        return Response(200, [(b"content-type", b"text/plain")], parts(), trailers=trailers)

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert reply.body == b"one,two"
    assert reply.trailers == [(b"x-digest", b"abc")]
    assert reply.header(b"content-length") is None
    assert reply.header(b"transfer-encoding") is None


async def test_large_streaming_response_waits_for_the_client_window(h2c: Any) -> None:
    size = 1_000_000

    async def app(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            for _ in range(size // 100_000):
                yield b"z" * 100_000

        return Response(200, [], parts())

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert len(reply.body) == size


async def test_file_body(h2c: Any, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    content = os.urandom(200_000)
    path.write_bytes(content)

    async def app(request: Request) -> Response:
        return Response(200, [], FileBody(str(path), offset=10, count=150_000))

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert reply.body == content[10:150_010]
    assert reply.header(b"content-length") == b"150000"


async def test_early_hints_then_the_response(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        await request.send_interim(103, [(b"link", b"</style.css>; rel=preload")])
        return Response(200, [], b"ok")

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert reply.interim == [[(b":status", b"103"), (b"link", b"</style.css>; rel=preload")]]
    assert reply.status == 200
    assert reply.body == b"ok"


async def test_head_204_and_304_have_no_content(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        status = int(request.query or b"200")
        return Response(status, [], b"" if status != 200 else b"twelve bytes")

    async with h2c(app) as (_server, client):
        head = await client.response(await client.request(b"HEAD"))
        empty = await client.response(await client.request(path=b"/?204"))
        unchanged = await client.response(await client.request(path=b"/?304"))
    assert head.status == 200
    assert head.body == b""
    assert head.header(b"content-length") == b"12"
    assert empty.status == 204
    assert empty.header(b"content-length") is None
    assert unchanged.status == 304
    assert unchanged.body == b""


async def test_connection_specific_fields_are_dropped_with_a_warning(
    h2c: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(request: Request) -> Response:
        headers = [
            (b"connection", b"close"),
            (b"keep-alive", b"timeout=5"),
            (b"upgrade", b"x"),
            (b"x-kept", b"1"),
        ]
        return Response(200, headers, b"ok")

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert reply.status == 200
    assert reply.header(b"x-kept") == b"1"
    assert {b"connection", b"keep-alive", b"upgrade"}.isdisjoint(dict(reply.headers))
    assert "Dropped the keep-alive field" in caplog.text


async def test_date_server_and_operator_fields_as_on_http11(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        own = (
            [(b"date", b"Thu, 01 Jan 1970 00:00:00 GMT"), (b"server", b"app")]
            if request.path == "/own"
            else []
        )
        return Response(200, own, b"ok")

    async with h2c(app, headers=(("X-Operator", "yes"),)) as (_server, client):
        plain = await client.response(await client.request())
        own = await client.response(await client.request(path=b"/own"))
    assert plain.header(b"server") == b"pyre"
    assert plain.header(b"x-operator") == b"yes"
    assert [n for n, _ in own.headers].count(b"date") == 1
    assert own.header(b"date") == b"Thu, 01 Jan 1970 00:00:00 GMT"
    assert own.header(b"server") == b"app"
    assert own.header(b"x-operator") == b"yes"


async def test_invalid_response_header_is_500(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        return Response(200, [(b"Bad Name", b"x")], b"ok")

    async with h2c(app) as (_server, client):
        reply = await client.response(await client.request())
    assert reply.status == 500


async def test_app_error_before_and_after_headers(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/before":
            raise RuntimeError("boom")

        async def parts() -> AsyncIterator[bytes]:
            yield b"start"
            await asyncio.sleep(0.05)
            raise RuntimeError("midway")

        return Response(200, [], parts())

    async with h2c(app) as (_server, client):
        before = await client.response(await client.request(path=b"/before"))
        after = await client.response(await client.request(path=b"/after"))
        still = await client.response(await client.request(path=b"/before"))
    assert before.status == 500
    assert after.status == 200
    assert after.body == b"start"
    assert after.reset == ErrorCodes.INTERNAL_ERROR
    assert still.status == 500  # the connection goes on


async def test_client_reset_is_a_disconnect_for_that_request_only(h2c: Any) -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def app(request: Request) -> Response:
        if request.path == "/slow":
            try:
                await request.body.read()
            except ClientDisconnected:
                outcome.set_result(f"disconnected={request.disconnected}")
                raise
        return Response(200, [], b"ok")

    async with h2c(app) as (_server, client):
        slow = await client.request(b"POST", b"/slow", end=False)
        await asyncio.sleep(0.1)
        client.h2.reset_stream(slow, ErrorCodes.CANCEL)
        await client.flush()
        assert await asyncio.wait_for(outcome, TIMEOUT) == "disconnected=True"
        other = await client.response(await client.request())
    assert other.status == 200


async def test_many_streams_at_once_on_one_connection(h2c: Any) -> None:
    async def app(request: Request) -> Response:
        await asyncio.sleep(0.05)
        return Response(200, [], request.path.encode())

    async with h2c(app) as (_server, client):
        ids = [await client.request(path=b"/%d" % n) for n in range(20)]
        replies = [await client.response(stream_id) for stream_id in ids]
    assert [r.body for r in replies] == [b"/%d" % n for n in range(20)]


# Real clients


async def test_httpx_and_curl_prior_knowledge() -> None:
    async with serve(echo, h2c=True) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        async with httpx.AsyncClient(http1=False, http2=True) as client:
            reply = await client.post(url, content=b"body")
        curl = await asyncio.create_subprocess_exec(
            "curl", "-s", "-i", "--http2-prior-knowledge", url, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await curl.communicate()
        # HTTP/1.1 on the same listener still works.
        async with httpx.AsyncClient() as client:
            plain = await client.get(url)
    assert reply.http_version == "HTTP/2"
    assert reply.content == b"body"
    assert reply.headers["x-version"] == "2"
    assert out.startswith(b"HTTP/2 200")
    assert b"x-version: 2" in out
    assert plain.http_version == "HTTP/1.1"
    assert plain.headers["x-version"] == "1.1"


async def test_without_h2c_a_cleartext_listener_is_http11_only() -> None:
    async with serve(hello) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        data = await asyncio.wait_for(reader.read(1000), TIMEOUT)
        writer.close()
    assert data.startswith(b"HTTP/1.1 505")


async def test_http_2_only_cleartext_is_prior_knowledge() -> None:
    async with serve(echo, http="2") as server:
        client = await H2Client.connect(server.port)
        reply = await client.response(await client.request())
        await client.close()
    assert reply.status == 200
    assert reply.header(b"x-version") == b"2"


def test_cli_flags_and_environment() -> None:
    _, config = parse(["m:app", "--http", "2", "--h2c", "--h2-max-concurrent-streams", "7"], {})
    assert (config.http, config.h2c, config.h2_max_concurrent_streams) == ("2", True, 7)
    _, config = parse(["m:app"], {"PYRE_HTTP": "1", "PYRE_H2_MAX_RESETS": "9"})
    assert (config.http, config.h2c, config.h2_max_resets) == ("1", False, 9)
    _, config = parse(["m:app", "--http", "httptools"], {})  # uvicorn's HTTP/1.1 implementations
    assert config.http == "1"
    with pytest.raises(ValueError, match="h2c"):
        Config(http="1", h2c=True)
    with pytest.raises(SystemExit):
        parse(["m:app", "--http", "3"], {})


# TLS with ALPN


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    return ca, str(path)


def _client_context(ca: trustme.CA, protocols: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(protocols)
    return context


@pytest.mark.parametrize(
    ("http", "offered", "chosen"),
    [
        ("auto", ["h2", "http/1.1"], "h2"),
        ("auto", ["http/1.1"], "http/1.1"),
        ("1", ["h2", "http/1.1"], "http/1.1"),
        ("2", ["h2", "http/1.1"], "h2"),
    ],
)
async def test_alpn_chooses_the_protocol(
    certificate: tuple[trustme.CA, str], http: str, offered: list[str], chosen: str
) -> None:
    ca, path = certificate
    async with serve(echo, ssl_certfile=path, http=http) as server:
        context = _client_context(ca, offered)
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=context)
        selected = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        writer.close()
    assert selected == chosen


async def test_h2_over_tls_with_httpx_and_curl(certificate: tuple[trustme.CA, str], tmp_path: Path) -> None:
    ca, path = certificate
    seen: list[Request] = []

    async def app(request: Request) -> Response:
        seen.append(request)
        return await echo(request)

    async with serve(app, ssl_certfile=path) as server:
        url = f"https://127.0.0.1:{server.port}/tls"
        async with httpx.AsyncClient(http2=True, verify=_client_context(ca, ["h2", "http/1.1"])) as client:
            reply = await client.get(url)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        curl = await asyncio.create_subprocess_exec(
            "curl", "-s", "-i", "--http2", "--cacert", str(ca_file), url, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await curl.communicate()
    assert reply.http_version == "HTTP/2"
    assert reply.headers["x-version"] == "2"
    assert out.startswith(b"HTTP/2 200")
    assert seen[0].scheme == "https"
    assert seen[0].extensions[EXT_TLS]["alpn_protocol"] == "h2"  # type: ignore[index]


# Upgrade: h2c (RFC 7540 section 3.2)


async def upgrade(
    port: int, request: bytes = b"GET /up HTTP/1.1\r\nhost: example.com\r\n"
) -> tuple[bytes, H2Client]:
    """Send an HTTP/1.1 request asking for h2c; the HTTP/1.1 answer, and the client for stream 1."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = H2Client(reader, writer)
    settings = client.h2.initiate_upgrade_connection()
    writer.write(
        request
        + b"connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: "
        + settings
        + b"\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    if head.startswith(b"HTTP/1.1 101"):
        await client.flush()  # the client preface and SETTINGS h2 queued
    return head, client


async def test_upgrade_h2c_makes_the_request_stream_1() -> None:
    async with serve(echo, h2c=True) as server:
        head, client = await upgrade(server.port)
        reply = await client.response(1)
        second = await client.response(await client.request(path=b"/next"))
        await client.close()
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"upgrade: h2c" in head
    assert reply.status == 200
    assert (reply.header(b"x-path"), reply.header(b"x-version")) == (b"/up", b"2")
    assert reply.header(b"x-authority") == b"example.com"
    assert second.header(b"x-path") == b"/next"


async def test_upgrade_h2c_with_curl() -> None:
    async with serve(echo, h2c=True) as server:
        curl = await asyncio.create_subprocess_exec(
            "curl", "-s", "-i", "--http2", f"http://127.0.0.1:{server.port}/c", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await curl.communicate()
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols")
    assert b"\r\nHTTP/2 200" in out
    assert b"x-version: 2" in out


@pytest.mark.parametrize(
    ("options", "settings_ok"),
    [({}, True), ({"h2c": True}, False)],
    ids=["without-h2c", "bad-http2-settings"],
)
async def test_upgrade_h2c_not_taken_is_answered_in_http11(
    options: dict[str, Any], settings_ok: bool
) -> None:
    async with serve(echo, **options) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        settings = b"AAMAAABkAAQCAAAAAAIAAAAA" if settings_ok else b"!!not base64!!"
        writer.write(
            b"GET / HTTP/1.1\r\nhost: h\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
            b"http2-settings: " + settings + b"\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert b"x-version: 1.1" in head


async def test_upgrade_h2c_with_content_is_answered_in_http11() -> None:
    """Pyre spec PYRE-UPG-9: ``curl --http2 -d`` on http://; RFC 7540 section 3.2 lets the server
    ignore the upgrade, and HTTP/1.1 reads the content, which llhttp skips."""
    async with serve(echo, h2c=True) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: 4\r\nconnection: Upgrade, HTTP2-Settings\r\n"
            b"upgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\ndata"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        body = await asyncio.wait_for(reader.readexactly(4), TIMEOUT)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert b"x-version: 1.1" in head
    assert body == b"data"


async def test_upgrade_h2c_after_input_held_back_reads_on() -> None:
    """HTTP/1.1 stops reading while an upgrade request waits with much behind it; HTTP/2 reads again."""

    async def app(request: Request) -> Response:
        if request.path == "/slow":
            await asyncio.sleep(0.3)
        return await echo(request)

    async with serve(app, h2c=True) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = H2Client(reader, writer)
        settings = client.h2.initiate_upgrade_connection()
        preface = client.h2.data_to_send()
        priority = PriorityFrame(1, depends_on=0, stream_weight=16).serialize()  # nothing to answer
        client.h2.send_headers(
            3,
            [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/3"), (b":authority", b"h")],
            end_stream=True,
        )
        writer.write(
            b"GET /slow HTTP/1.1\r\nhost: h\r\n\r\n"
            b"GET /up HTTP/1.1\r\nhost: h\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
            b"http2-settings: "
            + settings
            + b"\r\n\r\n"
            + preface
            + priority * 100_000
            + client.h2.data_to_send()
        )
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        length = int(re.search(rb"content-length: (\d+)", first).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        switching = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        upgraded = await client.response(1)
        third = await client.response(3)
        await client.close()
    assert first.startswith(b"HTTP/1.1 200")
    assert switching.startswith(b"HTTP/1.1 101")
    assert upgraded.header(b"x-path") == b"/up"
    assert third.header(b"x-path") == b"/3"
