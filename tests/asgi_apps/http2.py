"""HTTP/2 test support: a pyre-spec app with a route per behaviour, the servers that serve it
in-process (pyre-server, and hypercorn as the reference that also uses ``h2``), trustme
certificates, a raw ``h2`` client over a real socket, and external clients (curl) found on PATH.

The app and the test share the event loop, so the app reports what it saw through ``Seen``
(asyncio events and values by key) instead of through more requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
import hypercorn.asyncio
import hypercorn.config
import pytest
import trustme

from pyre.asgi import to_asgi
from pyre.server import Config, Server
from pyre.spec import Application, FileBody, Request, Response

STATIC = pathlib.Path(__file__).parent / "static" / "hello.txt"
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
WAIT = 20.0
"""How long a test waits for something the app or the server must do; never a speed assertion."""


def require(tool: str) -> str:
    """The path of ``tool``; a missing one skips the test on a dev machine and fails it in CI
    (``.ci/run`` installs curl and h2load, as it does nginx)."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Seen:
    """What the app observed, by key: set by the app, awaited by the test."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._events: dict[str, asyncio.Event] = {}

    def event(self, key: str) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def record(self, key: str, value: Any = True) -> None:
        self.values[key] = value
        self.event(key).set()

    async def wait(self, key: str) -> Any:
        await asyncio.wait_for(self.event(key).wait(), WAIT)
        return self.values[key]


def _params(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.query.decode()).items()}


class H2App:
    """One route per behaviour the HTTP/2 tests drive."""

    def __init__(self) -> None:
        self.seen = Seen()
        self.in_flight = 0

    async def __call__(self, request: Request) -> Response:
        route = getattr(self, "route_" + request.path.strip("/").replace("-", "_"), None)
        if route is None:
            return Response(404, TEXT, b"not found")
        response: Response = await route(request)
        return response

    async def route_(self, request: Request) -> Response:
        return Response(200, TEXT, b"hello")

    async def route_request(self, request: Request) -> Response:
        described = {
            "method": request.method,
            "target": request.target.decode(),
            "path": request.path,
            "query": request.query.decode(),
            "http_version": request.http_version,
            "scheme": request.scheme,
            "authority": request.authority,
            "x_test": request.headers.get_all("x-test"),
        }
        return Response(200, [(b"content-type", b"application/json")], json.dumps(described).encode())

    async def route_echo(self, request: Request) -> Response:
        body = await request.body.read()
        digest = hashlib.sha256(body).hexdigest().encode()
        return Response(200, [*TEXT, (b"x-sha256", digest), (b"x-method", request.method.encode())], body)

    async def route_gated_upload(self, request: Request) -> Response:
        """Reads nothing until the test sets ``gate``, then counts the body."""
        key = _params(request)["id"]
        await asyncio.wait_for(self.seen.event(key).wait(), WAIT)
        size = 0
        digest = hashlib.sha256()
        async for chunk in request.body:
            size += len(chunk)
            digest.update(chunk)
        return Response(200, [*TEXT, (b"x-sha256", digest.hexdigest().encode())], b"%d" % size)

    async def route_stream(self, request: Request) -> Response:
        return Response(200, TEXT, numbers(int(_params(request).get("n", "5"))))

    async def route_trailers(self, request: Request) -> Response:
        async def checksum() -> list[tuple[bytes, bytes]]:
            return [(b"x-checksum", b"c0ffee")]

        return Response(200, [*TEXT, (b"trailer", b"x-checksum")], numbers(3), trailers=checksum)

    async def route_early_hints(self, request: Request) -> Response:
        await request.send_interim(103, [(b"link", b"</style.css>; rel=preload; as=style")])
        return Response(200, TEXT, b"hinted")

    async def route_no_content(self, request: Request) -> Response:
        return Response(204, [(b"x-app", b"no-content")], b"")

    async def route_file(self, request: Request) -> Response:
        return Response(200, TEXT, FileBody(path=STATIC))

    async def route_endless(self, request: Request) -> Response:
        """An endless stream; ``id`` records how it ended (``closed``) and whether the request
        saw the client leave (``disconnected``)."""
        key = _params(request)["id"]

        async def blocks() -> AsyncIterator[bytes]:
            try:
                for _ in range(100_000):
                    yield b"x" * 16384
                    await asyncio.sleep(0)
            finally:
                self.seen.record(key + "-closed")

        async def watch() -> None:
            await request.wait_disconnected()
            self.seen.record(key + "-disconnected", request.disconnected)

        watcher = asyncio.get_running_loop().create_task(watch())
        self.seen.values.setdefault("watchers", set()).add(watcher)
        return Response(200, [(b"content-type", b"application/octet-stream")], blocks())

    async def route_together(self, request: Request) -> Response:
        """Answers once ``n`` requests are in this route at the same time (or fails after WAIT)."""
        wanted = int(_params(request)["n"])
        self.in_flight += 1
        event = self.seen.event(f"together-{wanted}")
        if self.in_flight >= wanted:
            event.set()
        try:
            await asyncio.wait_for(event.wait(), WAIT)
        finally:
            self.in_flight -= 1
        return Response(200, TEXT, request.query)


async def numbers(count: int) -> AsyncIterator[bytes]:
    for index in range(count):
        await asyncio.sleep(0.001)
        yield b"line %d\n" % index


@dataclass
class Certificates:
    ca: trustme.CA
    certfile: str
    keyfile: str
    cafile: str

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def make_certificates(where: pathlib.Path) -> Certificates:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
    server.private_key_pem.write_to_path(str(where / "key.pem"))
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    return Certificates(ca, str(where / "cert.pem"), str(where / "key.pem"), str(where / "ca.pem"))


@dataclass
class Served:
    """Where a server listens: ``url`` is ``http://`` or ``https://127.0.0.1:PORT``."""

    port: int
    tls: bool
    server: Server | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def on_pyre_server(
    app: Application, certificates: Certificates | None = None, **options: Any
) -> AsyncIterator[Served]:
    """pyre-server with HTTP/2: by ALPN over TLS (``--http auto``), h2c beside HTTP/1.1 in cleartext."""
    if certificates is None:
        options.setdefault("h2c", True)
    else:
        options.update(ssl_certfile=certificates.certfile, ssl_keyfile=certificates.keyfile)
    config = Config(host="127.0.0.1", port=0, access_log=False, timeout_drain=2.0, **options)
    async with Server(app, config) as server:
        yield Served(server.port, certificates is not None, server)


@contextlib.asynccontextmanager
async def on_hypercorn(
    app: Application, certificates: Certificates | None = None, **options: Any
) -> AsyncIterator[Served]:
    """hypercorn (HTTP/2 with ``h2``, h2c and Upgrade in cleartext) on the app through ``to_asgi``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.graceful_timeout = 2.0
    if certificates is not None:
        config.certfile, config.keyfile = certificates.certfile, certificates.keyfile
    stop = asyncio.Event()
    serving = asyncio.get_running_loop().create_task(
        hypercorn.asyncio.serve(to_asgi(app), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    )
    try:
        async with asyncio.timeout(WAIT):
            while True:
                assert not serving.done(), serving.exception()
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                await asyncio.sleep(0.05)
        yield Served(port, certificates is not None)
    finally:
        stop.set()
        await asyncio.wait_for(serving, WAIT)


SERVERS: dict[str, Callable[..., AbstractAsyncContextManager[Served]]] = {
    "pyre-server": on_pyre_server,
    "hypercorn": on_hypercorn,
}


class H2Client:
    """``h2``'s client-side connection over a real socket: the raw client for flow control,
    resets and frames an ordinary client does not let a test send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, **settings: Any) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, **settings))
        self.closed = False
        self.scheme = "http"

    @classmethod
    async def connect(cls, served: Served, certificates: Certificates | None = None) -> H2Client:
        context = None
        if served.tls:
            assert certificates is not None
            context = certificates.client_context()
            context.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", served.port, ssl=context, server_hostname="127.0.0.1" if context else None
        )
        client = cls(reader, writer)
        client.scheme = "https" if served.tls else "http"
        client.conn.initiate_connection()
        await client.flush()
        return client

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def events(self, within: float = WAIT) -> list[h2.events.Event]:
        """The events of the next bytes the server sends; ``[]`` once it has closed."""
        data = await asyncio.wait_for(self.reader.read(65536), within)
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        await self.flush()
        return events

    def request_headers(self, method: str, path: str, **extra: str) -> list[tuple[str, str]]:
        return [
            (":method", method),
            (":scheme", self.scheme),
            (":authority", "127.0.0.1"),
            (":path", path),
            *extra.items(),
        ]

    async def exchange(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        trailers: list[tuple[str, str]] | None = None,
        **extra: str,
    ) -> Exchange:
        """One stream from request to its end (or its reset); other streams' events are dropped."""
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, self.request_headers(method, path, **extra), end_stream=body is None)
        if body is not None:
            self.conn.send_data(stream, body, end_stream=trailers is None)
            if trailers is not None:
                self.conn.send_headers(stream, trailers, end_stream=True)
        await self.flush()
        result = Exchange()
        while not result.ended:
            events = await self.events()
            assert not self.closed, "the server closed the connection"
            for event in events:
                if getattr(event, "stream_id", None) == stream:
                    result.take(event)
                    if isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(event.flow_controlled_length, stream)
            await self.flush()
        return result

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await self.writer.wait_closed()


@dataclass
class Exchange:
    """What one stream brought: interim heads, the final head, body, trailers, or a reset."""

    interim: list[dict[bytes, bytes]] = field(default_factory=list)
    head: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    trailers: dict[bytes, bytes] | None = None
    reset: int | None = None
    ended: bool = False

    @property
    def status(self) -> int:
        return int(self.head[b":status"])

    def take(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.InformationalResponseReceived):
            self.interim.append(dict(event.headers))
        elif isinstance(event, h2.events.ResponseReceived):
            self.head = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.body += event.data
        elif isinstance(event, h2.events.TrailersReceived):
            self.trailers = dict(event.headers)
        elif isinstance(event, h2.events.StreamReset):
            self.reset, self.ended = event.error_code, True
        elif isinstance(event, h2.events.StreamEnded):
            self.ended = True


async def run(*command: str, within: float = WAIT) -> tuple[int, bytes, bytes]:
    """Run an external client without blocking the loop the in-process server runs on."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out, err
