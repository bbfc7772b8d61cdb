"""HTTP/2 limits and attacks: each with a real socket, h2's client side or raw frames (hyperframe).

Concurrent streams, header list and HPACK table sizes, rapid reset (CVE-2023-44487),
CONTINUATION, SETTINGS and PING floods, a window held shut, stream IDs going
backwards, idle and body timeouts, and the graceful shutdown with GOAWAY.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import h2.events
import hpack
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from server_support import echo, hello, serve
from test_server_http2 import TIMEOUT, H2Client

from pyre.server._http2 import PREFACE
from pyre.spec import Request, Response

FIELDS = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"example.com")]


def headers_frame(
    stream_id: int, fields: list[tuple[bytes, bytes]] = FIELDS, flags: tuple[str, ...] = ()
) -> bytes:
    """A HEADERS frame h2's client side would refuse to send (its own HPACK context)."""
    frame = HeadersFrame(stream_id)
    frame.data = hpack.Encoder().encode(fields)
    frame.flags = set(flags or ("END_HEADERS", "END_STREAM"))
    return frame.serialize()


def terminated(events: list[h2.events.Event]) -> h2.events.ConnectionTerminated | None:
    return next((e for e in events if isinstance(e, h2.events.ConnectionTerminated)), None)


async def goaway(client: H2Client) -> h2.events.ConnectionTerminated:
    await client.until(lambda events: terminated(events) is not None)
    event = terminated(client.events)
    assert event is not None
    return event


async def frames_until_closed(client: H2Client) -> list[Frame]:
    """After a GOAWAY h2's client side takes no more frames: read the rest raw."""
    data = b""
    while chunk := await asyncio.wait_for(client.reader.read(65536), TIMEOUT):
        data += chunk
    return parse_frames(data)


async def frames_within(client: H2Client, seconds: float) -> list[Frame]:
    """The frames that arrive within ``seconds``, read raw (for streams h2's client did not open)."""
    data = b""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while chunk := await client.reader.read(65536):
                data += chunk
    return parse_frames(data)


def parse_frames(data: bytes) -> list[Frame]:
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


async def connected(server: Any, settings: dict[int, int] | None = None) -> H2Client:
    client = await H2Client.connect(server.port, **({"settings": settings} if settings else {}))
    await client.until(lambda events: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events))
    return client


async def test_settings_advertise_the_limits() -> None:
    async with serve(hello, h2c=True, limit_header_size=5000, h2_header_table_size=1024) as server:
        client = await connected(server)
        settings = client.h2.remote_settings
        await client.close()
    assert settings.max_concurrent_streams == 100
    assert settings.max_header_list_size == 5000
    assert settings.header_table_size == 1024


async def test_streams_beyond_the_limit_are_refused_while_their_apps_run() -> None:
    """Reset streams whose apps still run count: a client cannot pile up work by resetting."""
    release = asyncio.Event()

    async def app(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(200, [], b"ok")

    async with serve(app, h2c=True, h2_max_concurrent_streams=2) as server:
        client = await connected(server)
        slow = [await client.request(path=b"/slow") for _ in range(2)]
        await asyncio.sleep(0.1)
        for stream_id in slow:
            client.h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        await client.flush()
        refused = await client.response(await client.request())
        release.set()
        await asyncio.sleep(0.1)
        accepted = await client.response(await client.request())
        await client.close()
    assert refused.reset == ErrorCodes.REFUSED_STREAM
    assert accepted.status == 200


async def test_more_open_streams_than_advertised_are_refused() -> None:
    """RFC 9113 section 5.1.2: a stream error (h2 alone would end the connection)."""
    async with serve(echo, h2c=True, h2_max_concurrent_streams=2) as server:
        client = await connected(server)
        await client.send(b"".join(headers_frame(n, flags=("END_HEADERS",)) for n in (1, 3, 5)))
        frames = await frames_within(client, 0.5)
        await client.close()
    assert [(f.stream_id, f.error_code) for f in frames if isinstance(f, RstStreamFrame)] == [
        (5, ErrorCodes.REFUSED_STREAM)
    ]
    assert not any(isinstance(f, GoAwayFrame) for f in frames)


async def test_limit_concurrency_answers_503_on_the_stream() -> None:
    release = asyncio.Event()

    async def app(request: Request) -> Response:
        await release.wait()
        return Response(200, [], b"ok")

    async with serve(app, h2c=True, limit_concurrency=1) as server:
        client = await connected(server)
        first = await client.request()
        busy = await client.response(await client.request())
        release.set()
        done = await client.response(first)
        await client.close()
    assert busy.status == 503
    assert busy.header(b"retry-after") == b"1"
    assert done.status == 200


async def test_a_client_that_sends_requests_and_reads_nothing_pins_a_bounded_buffer() -> None:
    """Each HEADERS frame is a few bytes and its answer 16 KB: the answers wait for the client."""

    async def app(request: Request) -> Response:
        return Response(200, [], b"x" * 16_000)

    async with serve(app, h2c=True) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1024)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Windows as large as can be: only the socket's buffer holds the answers back.
        settings = SettingsFrame(0, settings={SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        window = WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535)
        writer.write(PREFACE + settings.serialize() + window.serialize())
        await asyncio.sleep(0.1)
        (connection,) = server._shared.connections  # type: ignore[union-attr]
        # Small kernel buffers on both sides: what is not read stays in the server's transport.
        connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # type: ignore[union-attr]
        stream_id = 1
        for _ in range(5):
            writer.write(b"".join(headers_frame(stream_id + 2 * n) for n in range(90)))
            stream_id += 180
            await asyncio.sleep(0.2)
        buffered = connection.transport.get_write_buffer_size()  # type: ignore[union-attr]
        paused = connection.write_paused  # type: ignore[union-attr]
        # Not read, so not refused stream by stream until the reset limit cuts it off: it waits.
        still_open = not connection.transport.is_closing()  # type: ignore[union-attr]
        writer.close()
    assert paused
    assert still_open
    assert buffered < 600_000  # 450 answers would be 7 MB


async def test_rapid_reset_is_cut_off_and_its_apps_never_run() -> None:
    calls = 0

    async def app(request: Request) -> Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(1)
        return Response(200, [], b"")

    async with serve(app, h2c=True, h2_max_resets=50) as server:
        client = await connected(server)
        for _ in range(200):
            stream_id = client.h2.get_next_available_stream_id()
            client.h2.send_headers(stream_id, FIELDS, end_stream=True)
            client.h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        await client.flush()
        event = await goaway(client)
        await client.close()
    assert event.error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert calls < 50  # a stream reset in the same read never starts its app


@pytest.mark.parametrize("flood", ["ping", "settings"])
async def test_control_frame_floods_are_cut_off(flood: str) -> None:
    async with serve(hello, h2c=True, h2_max_control_frames=20) as server:
        client = await connected(server)
        frame = PingFrame(0) if flood == "ping" else SettingsFrame(0)
        if flood == "ping":
            frame.opaque_data = b"12345678"
        await client.send(frame.serialize() * 100)
        event = await goaway(client)
        await client.close()
    assert event.error_code == ErrorCodes.ENHANCE_YOUR_CALM


async def test_a_few_pings_are_answered() -> None:
    async with serve(hello, h2c=True, h2_max_control_frames=20) as server:
        client = await connected(server)
        for n in range(5):
            client.h2.ping(b"%08d" % n)
        await client.flush()
        await client.until(lambda events: sum(isinstance(e, h2.events.PingAckReceived) for e in events) == 5)
        reply = await client.response(await client.request())
        await client.close()
    assert reply.status == 200


async def test_continuation_flood_ends_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    """h2 keeps at most 64 CONTINUATION frames of one header block (each at most 16 KiB)."""
    caplog.set_level(logging.INFO, "pyre.server")
    async with serve(hello, h2c=True) as server:
        client = await connected(server)
        frame = HeadersFrame(1)
        frame.data = hpack.Encoder().encode(FIELDS)
        frame.flags = {"END_STREAM"}
        continuation = ContinuationFrame(1)
        continuation.data = b"\x00" * 16000
        with contextlib.suppress(ConnectionError):  # the server closes while the client still sends
            await client.send(frame.serialize() + continuation.serialize() * 100)
            await asyncio.wait_for(client.reader.read(), TIMEOUT)  # until the server closes
        await client.close()
    assert "Too many continuation frames" in caplog.text


async def test_a_header_list_over_the_limit_ends_the_connection() -> None:
    async with serve(echo, h2c=True, limit_header_size=4096) as server:
        client = await connected(server)
        fine = await client.response(await client.request(headers=[(b"x-big", b"a" * 3000)]))
        await client.send(headers_frame(3, [*FIELDS, (b"x-big", b"a" * 8000)]))
        event = await goaway(client)
        await client.close()
    assert fine.status == 200
    assert event.error_code == ErrorCodes.ENHANCE_YOUR_CALM  # h2: a DenialOfServiceError


async def test_an_hpack_table_larger_than_advertised_ends_the_connection() -> None:
    async with serve(echo, h2c=True, h2_header_table_size=256) as server:
        client = await connected(server)
        client.h2.encoder.header_table_size = 1024  # a table size update the server never allowed
        await client.request()
        event = await goaway(client)
        await client.close()
    assert event.error_code == ErrorCodes.PROTOCOL_ERROR


async def test_stream_ids_going_backwards_are_a_protocol_error() -> None:
    async with serve(hello, h2c=True) as server:
        client = await connected(server)
        await client.send(headers_frame(5))
        await client.send(headers_frame(3))
        event = await goaway(client)
        await client.close()
    assert event.error_code == ErrorCodes.PROTOCOL_ERROR


async def test_a_window_held_shut_is_reset_after_timeout_send() -> None:
    async def app(request: Request) -> Response:
        return Response(200, [], b"x" * 100_000)

    async with serve(app, h2c=True, timeout_send=0.5) as server:
        client = await connected(server, {SettingCodes.INITIAL_WINDOW_SIZE: 0})
        reply = await client.response(await client.request())
        await client.close()
    assert reply.status == 200
    assert reply.body == b""
    assert reply.reset == ErrorCodes.CANCEL


async def test_an_idle_connection_gets_goaway_after_timeout_keep_alive() -> None:
    async with serve(hello, h2c=True, timeout_keep_alive=0.5) as server:
        client = await connected(server)
        reply = await client.response(await client.request())
        event = await goaway(client)
        await client.until(lambda events: client.closed)
    assert reply.status == 200
    assert event.error_code == ErrorCodes.NO_ERROR


async def test_a_body_that_stops_coming_is_408() -> None:
    async with serve(echo, h2c=True, timeout_body=0.5) as server:
        client = await connected(server)
        reply = await client.response(await client.request(b"POST", body=b"part", end=False))
        await client.close()
    assert reply.status == 408


async def test_graceful_shutdown_finishes_streams_and_refuses_later_ones() -> None:
    async def app(request: Request) -> Response:
        await asyncio.sleep(0.5)
        return Response(200, [], b"finished")

    async with serve(app, h2c=True) as server:
        client = await connected(server)
        first = await client.request()
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop())
        event = await goaway(client)
        await client.send(headers_frame(3))
        frames = await frames_until_closed(client)
        await stopping
    assert (event.error_code, event.last_stream_id) == (ErrorCodes.NO_ERROR, first)
    headers = [f for f in frames if isinstance(f, HeadersFrame) and f.stream_id == first]
    data = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == first)
    refused = [f for f in frames if isinstance(f, RstStreamFrame) and f.stream_id == 3]
    assert dict(client.h2.decoder.decode(headers[0].data, raw=True))[b":status"] == b"200"
    assert data == b"finished"
    assert [f.error_code for f in refused] == [ErrorCodes.REFUSED_STREAM]


async def test_drain_timeout_answers_503_on_streams_still_running() -> None:
    async def app(request: Request) -> Response:
        await asyncio.sleep(30)
        return Response(200, [], b"")

    async with serve(app, h2c=True, timeout_drain=0.5) as server:
        client = await connected(server)
        stream_id = await client.request()
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop())
        await goaway(client)
        frames = await frames_until_closed(client)
        await asyncio.wait_for(stopping, TIMEOUT)
    headers = [f for f in frames if isinstance(f, HeadersFrame) and f.stream_id == stream_id]
    assert dict(client.h2.decoder.decode(headers[0].data, raw=True))[b":status"] == b"503"
