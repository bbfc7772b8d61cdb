"""Slow clients: trickled heads and bodies, and readers that never read (issue 16, items 3 and 4).

Each runs against a real Server over loopback with short timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from server_support import serve, status_of

from pyre.server import Config, Server
from pyre.spec import Request, Response


async def read_body(request: Request) -> Response:
    body = await request.body.read()
    return Response(200, body=b"%d bytes" % len(body))


async def trickle(writer: asyncio.StreamWriter, data: bytes, pause: float) -> int:
    """Send ``data`` a byte at a time, ``pause`` apart; how many bytes went out before the server closed."""
    for sent in range(len(data)):
        if writer.is_closing():
            return sent
        try:
            writer.write(data[sent : sent + 1])
            await writer.drain()
        except ConnectionError:
            return sent
        await asyncio.sleep(pause)
    return len(data)


async def test_a_trickled_body_gets_408_although_every_byte_arrives_within_timeout_body() -> None:
    # 10 bytes/s against a floor of 100 bytes/s; each byte comes far sooner than timeout_body.
    async with serve(read_body, timeout_body=0.6, limit_body_rate=100) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        sender = asyncio.create_task(trickle(writer, b"x" * 1000, 0.1))
        try:
            raw = await asyncio.wait_for(reader.read(), 10)
        finally:
            sender.cancel()
            writer.close()
        assert status_of(raw) == 408
        assert b"connection: close" in raw


async def test_a_slow_but_steady_body_is_received() -> None:
    # 3000 bytes/s against a floor of 1000 bytes/s, for longer than timeout_body.
    async with serve(read_body, timeout_body=0.5, limit_body_rate=1000) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4500\r\n\r\n")
        for _ in range(15):
            writer.write(b"y" * 300)
            await writer.drain()
            await asyncio.sleep(0.1)
        raw = await asyncio.wait_for(reader.readuntil(b"4500 bytes"), 10)
        writer.close()
        assert status_of(raw) == 200


async def test_a_body_the_app_is_not_reading_is_not_timed_out() -> None:
    """Backpressure: while the app does not wait for content, the client is not slow."""

    async def pausing(request: Request) -> Response:
        first = await request.body.__anext__()
        await asyncio.sleep(1.5)  # three times timeout_body, reading nothing
        rest = await request.body.read()
        return Response(200, body=b"%d bytes" % (len(first) + len(rest)))

    async with serve(pausing, timeout_body=0.5, limit_body_rate=100_000) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        await writer.drain()
        await asyncio.sleep(1.0)
        writer.write(b"67890")
        raw = await asyncio.wait_for(reader.readuntil(b"10 bytes"), 10)
        writer.close()
        assert status_of(raw) == 200


async def test_the_header_deadline_is_a_total_not_per_byte() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
    async with serve(timeout_header=0.5) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        sender = asyncio.create_task(trickle(writer, head, 0.05))  # a byte every 50 ms: 12 s in all
        raw = await asyncio.wait_for(reader.read(), 10)
        sent = await asyncio.wait_for(sender, 10)
        writer.close()
        assert status_of(raw) == 408
        assert sent < len(head) // 2


def never_reading_client(port: int) -> socket.socket:
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.setblocking(False)
    return client


async def endless(request: Request) -> Response:
    chunk = b"z" * 65536

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield chunk

    return Response(200, body=chunks())


async def big(request: Request) -> Response:
    return Response(200, body=b"b" * (8 * 1024 * 1024))


@pytest.mark.parametrize("app", [endless, big], ids=["streamed", "bytes"])
async def test_a_client_that_never_reads_is_aborted_after_timeout_send(
    app: object, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(app, Config(port=0, access_log=False, timeout_send=0.5))  # type: ignore[arg-type]
    await server.start()
    try:
        client = never_reading_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        shared = server._shared
        assert shared is not None
        most_buffered = 0
        async with asyncio.timeout(10):
            while not most_buffered or shared.connections:  # polls the server's own buffer
                for connection in list(shared.connections):
                    if connection.transport is not None and not connection.closed:
                        most_buffered = max(most_buffered, connection.transport.get_write_buffer_size())
                await asyncio.sleep(0.02)
        client.close()
    finally:
        await server.stop()
    assert "has not read the response" in caplog.text
    if app is endless:
        # The streaming writer waits for the buffer to drain: at most the high-water mark and one chunk.
        assert 0 < most_buffered <= 256 * 1024


async def test_a_client_reading_slowly_is_not_aborted() -> None:
    async def sized(request: Request) -> Response:
        return Response(200, body=b"s" * (512 * 1024))

    async with serve(sized, timeout_send=0.5) as server:
        client = never_reading_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        loop = asyncio.get_running_loop()
        received = b""
        with contextlib.closing(client):
            async with asyncio.timeout(20):
                while True:
                    data = await loop.sock_recv(client, 65536)
                    if not data:
                        break
                    received += data
                    await asyncio.sleep(0.01)  # reads, with pauses, never stalls for timeout_send
        assert received.endswith(b"s" * 1000)
        assert len(received) > 512 * 1024


def test_config_checks_the_new_limits() -> None:
    with pytest.raises(ValueError, match="limit_body_rate"):
        Config(limit_body_rate=-1)
    with pytest.raises(ValueError, match="timeout_send"):
        Config(timeout_send=0)
    assert Config(limit_body_rate=0).limit_body_rate == 0


def test_the_new_limits_have_flags_and_variables() -> None:
    from pyre.server._cli import parse

    _, config = parse(["m:app", "--limit-body-rate", "0", "--timeout-send", "5"], {})
    assert (config.limit_body_rate, config.timeout_send) == (0, 5.0)
    _, config = parse(["m:app"], {"PYRE_LIMIT_BODY_RATE": "2000", "PYRE_TIMEOUT_SEND": "7.5"})
    assert (config.limit_body_rate, config.timeout_send) == (2000, 7.5)
    assert (Config().limit_body_rate, Config().timeout_send) == (500, 30.0)


SLOW_READER_SERVER = """
import asyncio, sys
from pyre.server import Config, Server
from pyre.server._server import new_event_loop
from pyre.spec import Response

CHUNK = b"m" * 65536
SIZE = 200 * 1024 * 1024


async def app(request):
    async def chunks():
        for _ in range(SIZE // len(CHUNK)):
            yield CHUNK

    return Response(200, [(b"content-length", b"%d" % SIZE)], chunks())


async def main():
    async with Server(app, Config(port=0, access_log=False)) as server:
        print(server.port, flush=True)
        await asyncio.sleep(60)

with asyncio.Runner(loop_factory=new_event_loop) as runner:
    runner.run(main())
"""


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the server's RSS from /proc")
async def test_slow_readers_pin_little_memory_in_a_server_process() -> None:
    """50 clients each ask for a 200 MiB stream and read none of it: what the server
    holds for them stays near its write buffer limit (a join of batched chunks once
    pinned about 250 KiB each)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SLOW_READER_SERVER, stdout=asyncio.subprocess.PIPE
    )
    clients: list[socket.socket] = []
    try:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 20))
        before = resident_kib(process.pid)
        for _ in range(50):
            client = never_reading_client(port)
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
        await asyncio.sleep(2)
        per_reader = (resident_kib(process.pid) - before) / len(clients)
    finally:
        for client in clients:
            client.close()
        process.kill()
        await process.wait()
    assert per_reader < 64, f"{per_reader:.0f} KiB per slow reader"


async def answer_without_reading(request: Request) -> Response:
    return Response(200, body=b"answered")


async def test_skipped_content_arriving_too_slowly_closes_without_a_second_response() -> None:
    async with serve(answer_without_reading, timeout_body=0.5, limit_body_rate=100) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        sender = asyncio.create_task(trickle(writer, b"x" * 1000, 0.1))
        try:
            raw = await asyncio.wait_for(reader.read(), 10)
        finally:
            sender.cancel()
            writer.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"answered")  # and no 408 for a request that was answered already


async def test_skipped_content_arriving_steadily_keeps_the_connection() -> None:
    async with serve(answer_without_reading, timeout_body=0.5, limit_body_rate=100) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1500\r\n\r\n")
        for _ in range(15):  # 1000 bytes/s for 1.5 s, three times timeout_body
            writer.write(b"s" * 100)
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = await asyncio.wait_for(reader.readuntil(b"answeredHTTP/1.1 200 OK"), 10)
        writer.close()
    assert raw.count(b"200 OK") == 2
