"""Lifespan, start and stop, graceful drain, timeouts, and the public API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator

import pytest
from server_support import connect, exchange, hello, serve, status_of

import pyre.server
from pyre.server import Config, Server, StartupError
from pyre.server._protocol import HttpConnection
from pyre.spec import Request, Response, ServerInfo, State

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_public_api() -> None:
    assert sorted(pyre.server.__all__) == [
        "AppLoadError",
        "Config",
        "Server",
        "ServerError",
        "StartupError",
        "__version__",
        "run",
    ]
    for name in pyre.server.__all__:
        assert getattr(pyre.server, name) is not None
    assert issubclass(pyre.server.StartupError, pyre.server.ServerError)
    assert issubclass(pyre.server.AppLoadError, pyre.server.ServerError)


class LifespanApp:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        self.events.append(f"startup {server.name.split('/')[0]}")
        if self.fail:
            raise RuntimeError("database unreachable")
        state["greeting"] = "hello from lifespan"
        yield
        self.events.append("shutdown")

    async def __call__(self, request: Request) -> Response:
        self.events.append("request")
        return Response(200, body=request.state["greeting"].encode())


async def test_lifespan_runs_around_serving_and_fills_state() -> None:
    app = LifespanApp()
    async with serve(app) as server, connect(server) as client:
        assert app.events == ["startup pyre-server"]
        await client.send(GET)
        assert (await client.reply()).body == b"hello from lifespan"
    assert app.events == ["startup pyre-server", "request", "shutdown"]


async def test_failed_lifespan_startup_raises_and_does_not_serve() -> None:
    app = LifespanApp(fail=True)
    server = Server(app, Config(port=0))
    with pytest.raises(StartupError, match="database unreachable"):
        await server.start()
    assert server.sockets == []


async def test_port_in_use_is_a_startup_error() -> None:
    async with serve() as first:
        with pytest.raises(StartupError, match=r"cannot listen on 127\.0\.0\.1:\d+: address already in use"):
            await Server(hello, Config(port=first.port)).start()


async def test_unix_domain_socket(tmp_path: object) -> None:
    path = f"{tmp_path}/pyre.sock"
    async with serve(uds=path):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert status_of(await reader.read()) == 200
        writer.close()


async def test_inherited_file_descriptor() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with serve(fd=sock.detach()) as server:
        assert server.port == port
        assert status_of(await exchange(server, b"GET / HTTP/1.0\r\n\r\n")) == 200


async def test_stop_lets_in_flight_requests_finish_and_closes_idle_connections() -> None:
    started = asyncio.Event()

    async def app(request: Request) -> Response:
        if request.path == "/slow":
            started.set()
            await asyncio.sleep(0.2)
        return Response(200, body=b"finished")

    server = Server(app, Config(port=0, access_log=False))
    await server.start()
    async with connect(server) as idle, connect(server) as busy:
        await idle.send(GET)
        await idle.reply()
        await busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await started.wait()
        await server.stop()
        reply = await busy.reply()
        assert reply.body == b"finished"
        assert reply.header(b"connection") == b"close"
        assert await idle.closed()
        assert await busy.closed()


async def test_stop_cancels_requests_that_outlive_the_drain_timeout() -> None:
    cancelled = asyncio.Event()

    async def app(request: Request) -> Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(200)

    server = Server(app, Config(port=0, access_log=False, timeout_drain=0.1))
    await server.start()
    async with connect(server) as client:
        await client.send(GET)
        await asyncio.sleep(0.05)
        await server.stop()
        assert cancelled.is_set()
        reply = await client.reply()
        assert reply.status == 503
        assert reply.header(b"connection") == b"close"
        assert reply.header(b"retry-after") == b"1"
        assert await client.closed()


async def test_keep_alive_timeout_closes_idle_connections() -> None:
    async with serve(timeout_keep_alive=0.3) as server, connect(server) as client:
        await client.send(GET)
        assert (await client.reply()).status == 200
        assert await client.closed()


async def test_slow_header_section_gets_408() -> None:
    async with serve(timeout_header=0.3) as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        raw = await asyncio.wait_for(client.reader.read(), 5)
        assert status_of(raw) == 408


async def test_body_read_idle_timeout_gets_408() -> None:
    async def app(request: Request) -> Response:
        await request.body.read()
        return Response(200)

    async with serve(app, timeout_body=0.3) as server, connect(server) as client:
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        raw = await asyncio.wait_for(client.reader.read(), 5)
        assert status_of(raw) == 408


async def test_a_slow_app_is_not_a_timeout() -> None:
    async def app(request: Request) -> Response:
        await asyncio.sleep(0.6)
        return Response(200, body=b"late but fine")

    timeouts = {"timeout_keep_alive": 0.2, "timeout_header": 0.2, "timeout_body": 0.2}
    async with serve(app, **timeouts) as server, connect(server) as client:
        await client.send(GET)
        assert (await client.reply()).body == b"late but fine"


async def test_date_header_is_refreshed() -> None:
    async with serve() as server, connect(server) as client:
        await client.send(GET)
        first = (await client.reply()).header(b"date")
        await asyncio.sleep(1.1)
        await client.send(GET)
        second = (await client.reply()).header(b"date")
    assert first != second


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="limit_body_size"):
        Config(limit_body_size=0)
    with pytest.raises(ValueError, match="timeout_drain"):
        Config(timeout_drain=-1)
    with pytest.raises(ValueError, match="at most one"):
        Config(uds="/tmp/x", fd=3)


async def test_closed_connections_are_freed_without_the_cyclic_collector() -> None:
    """A connection per request must not leave a reference cycle per connection:
    collecting those cost about 6% of the server's time in that benchmark."""
    async with serve() as server:
        await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        gc.collect()
        gc.disable()
        try:
            for _ in range(20):
                await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                await exchange(
                    server, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
                )
            await asyncio.sleep(0.05)  # connection_lost runs soon after the close
            left = [item for item in gc.get_objects() if isinstance(item, HttpConnection)]
        finally:
            gc.enable()
        assert left == []


class Gate:
    """An app whose /slow requests wait until released; /stream starts a response and then waits."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.ran: list[str] = []

    async def __call__(self, request: Request) -> Response:
        self.ran.append(request.path)
        if request.path == "/slow":
            self.started.set()
            await self.release.wait()
        if request.path == "/stream":

            async def chunks() -> AsyncIterator[bytes]:
                yield b"first"
                self.started.set()
                await self.release.wait()
                yield b"second"

            return Response(200, body=chunks())
        return Response(200, body=b"done " + request.path.encode())


async def test_pipelined_requests_queued_at_shutdown_get_503() -> None:
    app = Gate()
    async with serve(app) as server, connect(server) as client:
        await client.send(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        await app.started.wait()
        await asyncio.sleep(0.05)  # the two behind it are parsed and queued
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.05)
        app.release.set()
        first, second, third = [await client.reply() for _ in range(3)]
        await stopping
        assert first.status == 200
        assert first.body == b"done /slow"
        assert first.header(b"connection") is None  # the 503s behind it follow on this connection
        assert [second.status, third.status] == [503, 503]
        assert second.header(b"connection") is None
        assert third.header(b"connection") == b"close"
        assert second.header(b"retry-after") == third.header(b"retry-after") == b"1"
        assert await client.closed()
    assert app.ran == ["/slow"]


async def test_a_request_arriving_during_the_drain_gets_503() -> None:
    app = Gate()
    async with serve(app) as server, connect(server) as client:
        await client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await app.started.wait()
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.05)
        await client.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        app.release.set()
        first, second = await client.reply(), await client.reply()
        await stopping
        assert (first.status, second.status) == (200, 503)
        assert second.header(b"connection") == b"close"
        assert second.header(b"retry-after") == b"1"
        assert await client.closed()
    assert app.ran == ["/slow"]


async def test_a_request_whose_head_is_arriving_at_shutdown_gets_503() -> None:
    async with serve() as server, connect(server) as client:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # not yet the blank line
        await asyncio.sleep(0.05)
        await server.stop()
        reply = await client.reply()
        assert reply.status == 503
        assert reply.header(b"connection") == b"close"
        assert await client.closed()


async def test_a_response_in_progress_at_the_drain_timeout_is_aborted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Gate()
    server = Server(app, Config(port=0, access_log=False, timeout_drain=0.1))
    await server.start()
    async with connect(server) as client:
        await client.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        await app.started.wait()
        await server.stop()
        received = await asyncio.wait_for(client.reader.read(), 5)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"second" not in received
    assert b"503" not in received
    assert "its response was cut off" in caplog.text
