"""Application faults: the handler raises, hangs past its own deadline, returns garbage, or keeps
writing after the client left.  The client gets a 500 (or, once bytes are out, a closed connection),
the fault is logged, and the server goes on serving."""

from __future__ import annotations

import asyncio
import time

import pytest
from torture_support import (
    PEERS,
    SUBJECTS,
    Settings,
    connect,
    exchange_one,
    get,
    read_reply,
    read_until_closed,
    split_replies,
)

GOOD = 200
# path: (what it does, the status the client must get)
NATIVE = {
    "/raise": ("handler raises", 500),
    "/hang?s=0.5": ("handler hangs past its own deadline", 500),
    "/stream-raise": ("stream's first chunk raises", 500),
    "/garbage/dict-headers": ("returns dict headers", 500),
    "/garbage/none-headers": ("returns None headers", 500),
    "/garbage/unpaired-header": ("returns a header that is not a pair", 500),
    "/garbage/str-status": ('returns status "200"', 500),
    "/garbage/status-600": ("returns status 600", 500),
    "/garbage/int-body": ("returns an int body", 500),
    "/garbage/not-a-response": ("returns bytes, not a Response", 500),
}
ASGI = {
    "/raise": ("handler raises", 500),
    "/hang?s=0.5": ("handler hangs past its own deadline", 500),
    "/garbage/str-status": ('sends status "200"', 500),
    "/garbage/triple-headers": ("sends a 3-item header", 500),
    "/garbage/status-600": ("sends status 600", 500),
    "/garbage/list-headers": ("sends headers as lists (valid ASGI)", GOOD),
    "/garbage/memoryview-body": ("sends a memoryview body (valid ASGI)", GOOD),
}
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}
APP_ERROR_PAGE = b"the app's own error page"


def cases() -> list[object]:
    params = []
    for table, kinds in ((NATIVE, ("pyre",)), (ASGI, ("pyre-asgi", *PEERS))):
        for path in table:
            for kind in kinds:
                defect = KNOWN_DEFECTS.get((kind, path))
                marks = [pytest.mark.xfail(strict=True, reason=defect)] if defect else []
                params.append(pytest.param(path, kind, id=f"{kind}-{path}", marks=marks))
    return params


def interface(kind: str) -> str:
    return "pyre-spec app" if kind == "pyre" else "ASGI app"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("path", "kind"), cases())
async def test_app_fault(path: str, kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    server = shared(kind, Settings(keep_alive=2))
    what, expected = (NATIVE if kind == "pyre" else ASGI)[path]
    with measure(server, f"app fault ({interface(kind)}): {what}", "one request, then a normal one") as m:
        started = time.monotonic()
        request = b"GET %s HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode()
        try:
            reader, writer = await connect(server.port)
            writer.write(request)
            reply = await asyncio.wait_for(read_reply(reader), 5)
            answered = str(reply.status)
        except (TimeoutError, asyncio.IncompleteReadError, OSError, ValueError) as error:
            answered = "nothing in 5 s" if isinstance(error, TimeoutError) else "closed, no response"
        finally:
            writer.transport.abort()
        seconds = time.monotonic() - started
        after = (await get(server.port)).status
        m.outcome(f"{answered}; next client {after}", f"{seconds * 1000:.0f} ms")
        m.require(answered == str(expected), f"expected {expected}")
        m.require(after == GOOD, "the server did not serve the next client")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["pyre", "pyre-asgi", *PEERS])
async def test_write_after_disconnect(kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    server = shared(kind, Settings(keep_alive=2))
    clients = 50
    load = f"{clients} clients read the first chunk of an endless stream, then leave"
    with measure(server, f"app fault ({interface(kind)}): writes after the client left", load) as m:
        before = await server.settled_stats()
        fds_before = server.fds()
        streams = [await connect(server.port) for _ in range(clients)]
        for _, writer in streams:
            writer.write(b"GET /drip HTTP/1.1\r\nHost: t\r\n\r\n")
        for reader, _ in streams:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        for _, writer in streams:
            writer.close()
        stats = await server.settled_stats(within=5)
        started = stats["streams_started"] - before["streams_started"]
        stopped = stats["streams_closed"] - before["streams_closed"]
        await asyncio.sleep(0.5)
        leaked = server.fds() - fds_before
        after = (await get(server.port)).status
        m.outcome(
            f"{stopped}/{started} app streams stopped within 5 s; next client {after}", f"fds {leaked:+d}"
        )
        m.require(
            started == clients and stopped == clients, "the app's streams went on after the clients left"
        )
        m.require(leaked <= 2, f"{leaked} descriptors still open")
        m.require(after == GOOD, "the server did not serve the next client")
        m.require(server.alive() and not server.crash_lines(), f"server broke: {server.crash_lines()[:3]}")


@pytest.mark.timeout(30)
async def test_faults_are_logged(shared) -> None:  # type: ignore[no-untyped-def]
    """The handler's exception reaches pyre-server's log, on both paths."""
    for kind in SUBJECTS:
        server = shared(kind, Settings(keep_alive=2))
        assert (await exchange_one(server.port, b"GET /raise HTTP/1.1\r\nHost: t\r\n\r\n")).status == 500
        await asyncio.sleep(0.2)
        assert "torture: the handler raised" in server.log(), server.log()[-2000:]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["pyre-asgi", *PEERS])
async def test_asgi_error_page_is_kept(kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    """Issue #16 item 11: an app that sent its own 500 page and then raised keeps its page."""
    server = shared(kind, Settings(keep_alive=2))
    with measure(server, "app fault (ASGI app): sends its own 500 page, then raises", "one request") as m:
        reply = await exchange_one(server.port, b"GET /error-page HTTP/1.1\r\nHost: t\r\n\r\n")
        kept = reply.body == APP_ERROR_PAGE
        m.outcome(f"{reply.status}, {'the app' if kept else 'a server'} page")
        m.require(reply.status == 500 and kept, "the app's page was replaced")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["pyre-asgi", *PEERS])
async def test_asgi_head_lets_the_app_finish(kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    """Issue #16 item 18: a HEAD request does not cancel the app's work after its response."""
    server = shared(kind, Settings(keep_alive=2))
    rounds = 20
    with measure(server, "HEAD to an app that works after responding (ASGI app)", f"{rounds} requests") as m:
        before = (await server.stats())["work_after_response"]
        for _ in range(rounds):
            reader, writer = await connect(server.port)
            writer.write(b"HEAD /work-after-response HTTP/1.1\r\nHost: t\r\n\r\n")
            await asyncio.wait_for(read_reply(reader, head_only=True), 5)
            await asyncio.sleep(0.1)
            writer.close()
        await asyncio.sleep(0.3)
        finished = (await server.stats())["work_after_response"] - before
        m.outcome(f"{finished}/{rounds} apps finished their work after the response")
        m.require(finished == rounds, "the app was cancelled after answering HEAD")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["pyre-asgi", *PEERS])
async def test_asgi_chunked_body_over_the_limit(kind: str, shared, measure) -> None:  # type: ignore[no-untyped-def]
    """Issue #16 item 14: a chunked upload past the body limit is a 413 through the bridge too."""
    server = shared(kind, Settings(keep_alive=2))
    size = 20 * 2**20
    with measure(server, "chunked body of 20 MiB, limit 16 MiB (ASGI app)", "one request") as m:
        reader, writer = await connect(server.port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"10000\r\n" + b"b" * 65536 + b"\r\n"
        try:
            for _ in range(size // 65536):
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), 5)
            writer.write(b"0\r\n\r\n")
        except (OSError, TimeoutError):
            pass
        ending = await read_until_closed(reader, 4)
        writer.transport.abort()
        statuses = split_replies(ending.data)
        m.outcome(f"{statuses[0] if statuses else 'no response'}, {ending.how}")
        m.require(statuses[:1] == [413], "expected 413")
