"""pyre-framework applications served by pyre-server over real loopback sockets.

Each test starts a ``Server`` on port 0 in the test's own event loop and talks
to it with httpx, or with raw sockets where the exact bytes on the wire are
the point (framing, ``HEAD``, ``100 Continue``, incremental streaming).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import hashlib
import html
import pathlib
import random
import re
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import pyre.spec
from examples import demo
from pyre import framework
from pyre.framework import App, CallNext, HTTPException, Request, responses
from pyre.framework.datastructures import UploadFile
from pyre.framework.formparsers import FormLimits
from pyre.framework.middleware.gzip import GZipMiddleware
from pyre.framework.staticfiles import StaticFiles
from pyre.server import Config, Server, StartupError

ROOT = pathlib.Path(demo.__file__).resolve().parent.parent

HANG_GUARD = 30.0
"""Seconds before a test that would otherwise hang fails; never an assertion about speed."""


# -- serving and talking --------------------------------------------------------------------------------


@dataclasses.dataclass
class Served:
    port: int
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def serving(app: pyre.spec.Application, **options: Any) -> AsyncIterator[Served]:
    config = Config(host="127.0.0.1", port=0, access_log=False, **options)
    async with Server(app, config) as server:
        base_url = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=HANG_GUARD) as client:
            yield Served(server.port, client)


def seed_app() -> App[Any]:
    app = App()
    app.load_extension("examples.seed")
    return app


@pytest.fixture
async def seed() -> AsyncIterator[Served]:
    async with serving(seed_app()) as served:
        yield served


@pytest.fixture
async def demo_app() -> AsyncIterator[Served]:
    async with serving(demo.create_app()) as served:
        yield served


@dataclasses.dataclass
class Reply:
    """One response as it came over the wire."""

    status: int
    reason: str
    fields: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for field, value in self.fields if field == name), None)

    def names(self) -> list[str]:
        return [field for field, _ in self.fields]


def parse_head(block: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    status_line, *lines = block.decode("latin-1").split("\r\n")
    version, status, reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    fields = [(name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return int(status), reason, fields


def parse_replies(data: bytes, methods: list[str]) -> tuple[list[Reply], bytes]:
    """The responses to requests with ``methods``, in order, and whatever bytes follow them."""
    replies = []
    for method in methods:
        head, separator, data = data.partition(b"\r\n\r\n")
        assert separator, f"incomplete header section: {head!r}"
        status, reason, fields = parse_head(head)
        reply = Reply(status, reason, fields, b"")
        if method == "HEAD" or status in (204, 304) or status < 200:
            pass
        elif reply.header("transfer-encoding") == "chunked":
            reply.body, data = decode_chunked(data)
        elif reply.header("content-length") is not None:
            length = int(reply.header("content-length") or 0)
            assert len(data) >= length, "content shorter than its content-length"
            reply.body, data = data[:length], data[length:]
        else:
            reply.body, data = data, b""
        replies.append(reply)
    return replies, data


def decode_chunked(data: bytes) -> tuple[bytes, bytes]:
    content = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            trailers, separator, data = data.partition(b"\r\n")
            assert (trailers, separator) == (b"", b"\r\n")  # no trailer section, just its end
            return bytes(content), data
        content += data[:size]
        assert data[size : size + 2] == b"\r\n"
        data = data[size + 2 :]


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(HANG_GUARD):
            return await reader.read()
    finally:
        writer.close()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    async with asyncio.timeout(HANG_GUARD):
        head = await reader.readuntil(b"\r\n\r\n")
    return parse_head(head[:-4])


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(HANG_GUARD):
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
    assert data.endswith(b"\r\n")
    return data[:-2]


def request_bytes(method: str, target: str, *fields: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "host: test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- the write-up's seed, unchanged ----------------------------------------------------------------------


async def test_seed_get_hello(seed: Served) -> None:
    response = await seed.client.get("/hello/Ada")
    assert response.status_code == 200
    assert response.text == "Hello, Ada!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_seed_post_hello_with_json_body(seed: Served) -> None:
    response = await seed.client.post("/hello/Ada", json={"age": 36})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello, Ada! You are aged: 36"}


async def test_seed_response_bytes_on_the_wire(seed: Served) -> None:
    data = await exchange(seed.port, request_bytes("GET", "/hello/Ada", "connection: close"))
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"content-type: text/plain; charset=utf-8" in lines
    assert b"content-length: 11" in lines
    assert b"connection: close" in lines
    assert sum(line.startswith(b"date: ") for line in lines) == 1
    assert body == b"Hello, Ada!"


async def test_seed_post_with_chunked_body(seed: Served) -> None:
    content = b'{"age": 41}'
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (4, content[:4], len(content) - 4, content[4:])
    request = request_bytes(
        "POST", "/hello/Alan", "transfer-encoding: chunked", "connection: close", body=chunked
    )
    [reply], rest = parse_replies(await exchange(seed.port, request), ["POST"])
    assert reply.status == 200
    assert reply.body == b'{"message":"Hello, Alan! You are aged: 41"}'
    assert rest == b""


async def test_seed_post_with_malformed_json_is_400(seed: Served) -> None:
    response = await seed.client.post(
        "/hello/Ada", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("request body is not valid JSON")


async def test_seed_percent_encoded_segments(seed: Served) -> None:
    assert (await seed.client.get("/hello/J%C3%BCrgen")).text == "Hello, Jürgen!"
    # An encoded "/" is never part of a {name}: the path matches no route (issue #16).
    assert (await seed.client.get("/hello/a%2Fb")).status_code == 404


async def test_keep_alive_serves_several_requests_on_one_connection(seed: Served) -> None:
    request = request_bytes("GET", "/hello/one") + request_bytes("GET", "/hello/two", "connection: close")
    replies, rest = parse_replies(await exchange(seed.port, request), ["GET", "GET"])
    assert [reply.body for reply in replies] == [b"Hello, one!", b"Hello, two!"]
    assert rest == b""


# -- routing errors, HEAD and OPTIONS --------------------------------------------------------------------


async def test_unknown_path_is_404_json(seed: Served) -> None:
    response = await seed.client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


async def test_wrong_method_is_405_with_allow(seed: Served) -> None:
    response = await seed.client.delete("/hello/Ada")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_head_sends_the_get_headers_and_no_content(seed: Served) -> None:
    # A GET follows on the same connection: any content after HEAD's head would be read as its reply.
    request = request_bytes("HEAD", "/hello/Ada") + request_bytes("GET", "/hello/Bob", "connection: close")
    (head, get), rest = parse_replies(await exchange(seed.port, request), ["HEAD", "GET"])
    assert head.status == 200
    assert head.header("content-length") == "11"
    assert head.header("content-type") == "text/plain; charset=utf-8"
    assert get.status == 200
    assert get.body == b"Hello, Bob!"
    assert rest == b""


async def test_options_lists_the_allowed_methods(seed: Served) -> None:
    request = request_bytes("OPTIONS", "/hello/Ada", "connection: close")
    [reply], rest = parse_replies(await exchange(seed.port, request), ["OPTIONS"])
    assert reply.status == 204
    assert reply.header("allow") == "GET, HEAD, OPTIONS, POST"
    assert "content-length" not in reply.names()
    assert rest == b""


async def test_path_value_that_does_not_convert_is_404(demo_app: Served) -> None:
    assert (await demo_app.client.get("/users/abc")).status_code == 404
    assert (await demo_app.client.get("/count/0")).status_code == 404  # {n:int(min=1,max=1000)}
    assert (await demo_app.client.get("/count/1001")).status_code == 404


async def test_unhandled_error_is_500_that_leaks_nothing() -> None:
    app = App()

    async def broken() -> str:
        raise RuntimeError("secret database password")

    app.add_endpoint("/broken", broken)
    async with serving(app) as served:
        response = await served.client.get("/broken")
        assert response.status_code == 500
        assert response.json() == {"detail": "Internal Server Error"}
        assert "secret" not in response.text
        # The server is unharmed.
        assert (await served.client.get("/broken")).status_code == 500


# -- the demo application ---------------------------------------------------------------------------------


async def test_demo_index_links_to_every_example_and_each_link_works(demo_app: Served) -> None:
    page = await demo_app.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = [html.unescape(link) for link in re.findall(r'<a href="([^"]+)">', page.text)]
    assert links == [url for url, _ in demo.EXAMPLES]
    for link in links:
        response = await demo_app.client.get(link)
        assert response.status_code == 200, link
        assert response.content, link


async def test_demo_serves_the_seed_extension(demo_app: Served) -> None:
    assert (await demo_app.client.get("/hello/Ada")).text == "Hello, Ada!"
    posted = await demo_app.client.post("/hello/Ada", json={"age": 36})
    assert posted.json() == {"message": "Hello, Ada! You are aged: 36"}


async def test_demo_typed_path_parameter(demo_app: Served) -> None:
    response = await demo_app.client.get("/users/1")
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "Ada", "age": 36}
    missing = await demo_app.client.get("/users/99")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "there is no user 99"}


async def test_demo_query_injection(demo_app: Served) -> None:
    response = await demo_app.client.get("/users", params={"min_age": "40"})
    assert [user["name"] for user in response.json()] == ["Alan", "Grace"]
    response = await demo_app.client.get(
        "/users", params=[("name", "Ada"), ("name", "Grace"), ("limit", "1")]
    )
    assert [user["name"] for user in response.json()] == ["Ada"]


async def test_demo_invalid_query_is_422_naming_every_problem(demo_app: Served) -> None:
    response = await demo_app.client.get("/users", params={"limit": "0", "min_age": "old"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    problems = {tuple(item["loc"]): item for item in response.json()["detail"]}
    assert set(problems) == {("query", "limit"), ("query", "min_age")}
    assert problems["query", "min_age"]["type"] == "value_error"


async def test_demo_pydantic_body(demo_app: Served) -> None:
    created = await demo_app.client.post("/users", json={"name": "Barbara", "age": 84})
    assert created.status_code == 201
    assert created.json() == {"id": 4, "name": "Barbara", "age": 84}
    assert created.headers["location"] == "/users/4"
    assert (await demo_app.client.get(created.headers["location"])).json()["name"] == "Barbara"


async def test_demo_invalid_body_is_422(demo_app: Served) -> None:
    response = await demo_app.client.post("/users", json={"name": "", "age": "many"})
    assert response.status_code == 422
    locations = sorted(tuple(item["loc"]) for item in response.json()["detail"])
    assert locations == [("body", "age"), ("body", "name")]
    empty = await demo_app.client.post("/users", content=b"", headers={"content-type": "application/json"})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body"]


async def test_demo_file_response_and_range(demo_app: Served) -> None:
    source = await asyncio.to_thread(pathlib.Path(demo.__file__).read_bytes)
    response = await demo_app.client.get("/source/demo")
    assert response.status_code == 200
    assert response.content == source
    assert response.headers["accept-ranges"] == "bytes"
    partial = await demo_app.client.get("/source/demo", headers={"range": "bytes=3-9"})
    assert partial.status_code == 206
    assert partial.content == source[3:10]
    assert partial.headers["content-range"] == f"bytes 3-9/{len(source)}"
    assert (await demo_app.client.get("/source/missing")).status_code == 404


async def test_demo_streaming_count_is_chunked(demo_app: Served) -> None:
    data = await exchange(demo_app.port, request_bytes("GET", "/count/5", "connection: close"))
    [reply], rest = parse_replies(data, ["GET"])
    assert reply.status == 200
    assert reply.header("transfer-encoding") == "chunked"
    assert "content-length" not in reply.names()
    assert reply.body == b"1\n2\n3\n4\n5\n"
    assert rest == b""


async def test_demo_server_sent_events(demo_app: Served) -> None:
    response = await demo_app.client.get("/ticks", params={"count": "3", "interval": "0"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    events = [block.split("\n") for block in response.text.split("\n\n") if block]
    assert events == [["event: tick", f"id: {n}", f'data: {{"tick":{n}}}'] for n in (1, 2, 3)]


async def test_demo_openapi(demo_app: Served) -> None:
    response = await demo_app.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Pyre demo"
    assert {"/hello/{name}", "/users", "/users/{id}", "/source/{name}", "/count/{n}", "/ticks"} <= set(
        document["paths"]
    )
    assert "/openapi.json" not in document["paths"]
    create = document["paths"]["/users"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewUser"
    }
    assert create["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }
    assert {"NewUser", "User"} <= set(document["components"]["schemas"])


async def test_demo_request_id_middleware(demo_app: Served) -> None:
    echoed = await demo_app.client.get("/hello/Ada", headers={"x-request-id": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    made = await demo_app.client.get("/nowhere")
    assert made.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


# -- files: sendfile body, validators, ranges ---------------------------------------------------------

FILE_SIZE = 3 * 1024 * 1024 + 17
FILE_CONTENT = random.Random(4).randbytes(FILE_SIZE)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(FILE_CONTENT)
    return path


@pytest.fixture
async def files(big_file: pathlib.Path) -> AsyncIterator[Served]:
    app = App()

    async def download() -> responses.FileResponse:
        return responses.FileResponse(big_file, filename="big.bin")

    app.add_endpoint("/big.bin", download)
    async with serving(app) as served:
        yield served


async def test_large_file_arrives_byte_exact(files: Served) -> None:
    response = await files.client.get("/big.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(FILE_SIZE)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="big.bin"'
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith(" GMT")
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(FILE_CONTENT).digest()


async def test_file_head_has_length_and_no_content(files: Served) -> None:
    request = request_bytes("HEAD", "/big.bin") + request_bytes(
        "GET", "/big.bin", "range: bytes=0-3", "connection: close"
    )
    (head, get), rest = parse_replies(await exchange(files.port, request), ["HEAD", "GET"])
    assert head.status == 200
    assert head.header("content-length") == str(FILE_SIZE)
    assert get.status == 206
    assert len(get.body) == 4
    assert rest == b""


async def test_file_conditional_get_is_304(files: Served) -> None:
    first = await files.client.get("/big.bin")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for condition in ({"if-none-match": etag}, {"if-modified-since": modified}):
        request = request_bytes("GET", "/big.bin", *(f"{k}: {v}" for k, v in condition.items()))
        request += request_bytes("GET", "/big.bin", "range: bytes=-2", "connection: close")
        (not_modified, after), rest = parse_replies(await exchange(files.port, request), ["GET", "GET"])
        assert not_modified.status == 304
        assert not_modified.header("etag") == etag
        assert "content-type" not in not_modified.names()
        assert after.status == 206  # so nothing was sent after the 304's header section
        assert rest == b""
    changed = await files.client.get("/big.bin", headers={"if-none-match": '"other"'})
    assert changed.status_code == 200
    assert len(changed.content) == FILE_SIZE


async def test_file_single_ranges(files: Served) -> None:
    content = FILE_CONTENT
    cases = {
        "bytes=100-199": (100, 199),
        "bytes=-500": (FILE_SIZE - 500, FILE_SIZE - 1),
        "bytes=1048576-": (1048576, FILE_SIZE - 1),  # more than 1 MiB, to the end
        "bytes=5-99999999": (5, FILE_SIZE - 1),
    }
    for header, (first, last) in cases.items():
        response = await files.client.get("/big.bin", headers={"range": header})
        assert response.status_code == 206, header
        assert response.headers["content-range"] == f"bytes {first}-{last}/{FILE_SIZE}"
        assert response.headers["content-length"] == str(last - first + 1)
        assert response.content == content[first : last + 1], header


async def test_file_multiple_ranges(files: Served) -> None:
    content = FILE_CONTENT
    ranges = [(0, 9), (2_000_000, 2_000_099), (FILE_SIZE - 3, FILE_SIZE - 1)]
    header = "bytes=" + ",".join(f"{first}-{last}" for first, last in ranges)
    response = await files.client.get("/big.bin", headers={"range": header})
    assert response.status_code == 206
    media_type, _, parameter = response.headers["content-type"].partition("; boundary=")
    assert media_type == "multipart/byteranges"
    assert int(response.headers["content-length"]) == len(response.content)
    boundary = parameter.encode()
    parts = response.content.split(b"--" + boundary)
    assert parts[0] == b""
    assert parts[-1] == b"--\r\n"
    for part, (first, last) in zip(parts[1:-1], ranges, strict=True):
        head, _, data = part.partition(b"\r\n\r\n")
        assert f"content-range: bytes {first}-{last}/{FILE_SIZE}".encode() in head.split(b"\r\n")
        assert b"content-type: application/octet-stream" in head.split(b"\r\n")
        assert data == content[first : last + 1] + b"\r\n"


async def test_file_unsatisfiable_range_is_416(files: Served) -> None:
    response = await files.client.get("/big.bin", headers={"range": f"bytes={FILE_SIZE}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{FILE_SIZE}"
    assert response.content == b""


async def test_file_if_range_with_an_old_etag_sends_everything(files: Served) -> None:
    response = await files.client.get("/big.bin", headers={"range": "bytes=0-9", "if-range": '"old"'})
    assert response.status_code == 200
    assert len(response.content) == FILE_SIZE


# -- streaming and server-sent events ---------------------------------------------------------------------


async def test_streaming_response_sends_each_chunk_as_it_is_produced() -> None:
    release = asyncio.Event()
    app = App()

    async def stream() -> responses.StreamingResponse:
        async def produce() -> AsyncIterator[bytes]:
            yield b"first"
            await release.wait()
            yield b"second"

        return responses.StreamingResponse(produce(), media_type="text/plain")

    app.add_endpoint("/stream", stream)
    async with serving(app) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(request_bytes("GET", "/stream"))
            status, _, fields = await read_head(reader)
            assert status == 200
            assert ("transfer-encoding", "chunked") in fields
            # The second chunk is not produced until this one has arrived.
            assert await read_chunk(reader) == b"first"
            release.set()
            assert await read_chunk(reader) == b"second"
            assert await read_chunk(reader) == b""
            # The connection is still usable.
            writer.write(request_bytes("GET", "/nowhere"))
            assert (await read_head(reader))[0] == 404
        finally:
            writer.close()


async def test_server_sent_events_arrive_one_by_one() -> None:
    queue: asyncio.Queue[responses.ServerSentEvent | None] = asyncio.Queue()
    app = App()

    async def events() -> responses.EventSourceResponse:
        async def produce() -> AsyncIterator[responses.ServerSentEvent]:
            while (event := await queue.get()) is not None:
                yield event

        return responses.EventSourceResponse(produce())

    app.add_endpoint("/events", events)
    async with serving(app) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(request_bytes("GET", "/events", "connection: close"))
            await queue.put(responses.ServerSentEvent(data={"n": 1}, event="update", id="1"))
            status, _, fields = await read_head(reader)
            assert status == 200
            assert ("content-type", "text/event-stream; charset=utf-8") in fields
            assert await read_chunk(reader) == b'event: update\nid: 1\ndata: {"n":1}\n\n'
            await queue.put(responses.ServerSentEvent(data="two\nlines"))
            assert await read_chunk(reader) == b"data: two\ndata: lines\n\n"
            await queue.put(None)
            assert await read_chunk(reader) == b""
            async with asyncio.timeout(HANG_GUARD):
                assert await reader.read() == b""  # closed, as the request asked
        finally:
            writer.close()


async def test_stream_head_is_sent_before_the_first_chunk() -> None:
    head_arrived = asyncio.Event()
    app = App()

    async def stream() -> responses.EventSourceResponse:
        async def produce() -> AsyncIterator[str]:
            # A server that sent the head when the response began has let the client see it.
            await head_arrived.wait()
            yield "hello"

        return responses.EventSourceResponse(produce())

    app.add_endpoint("/events", stream)
    async with serving(app) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(request_bytes("GET", "/events", "connection: close"))
            # Short guard: with the head held back, producer and client wait for each other forever.
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
            assert parse_head(head[:-4])[0] == 200
            head_arrived.set()
            assert await read_chunk(reader) == b"data: hello\n\n"
        finally:
            head_arrived.set()
            writer.close()


async def test_client_leaving_a_busy_stream_closes_it_and_the_server_goes_on() -> None:
    closed = asyncio.Event()
    app = App()

    async def endless() -> responses.StreamingResponse:
        async def produce() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x" * 4096
                    await asyncio.sleep(0)
            finally:
                closed.set()

        return responses.StreamingResponse(produce())

    app.add_endpoint("/endless", endless)
    app.add_endpoint("/ping", lambda: "pong", name="ping")
    async with serving(app) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request_bytes("GET", "/endless"))
        assert (await read_head(reader))[0] == 200
        assert await read_chunk(reader) == b"x" * 4096
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(HANG_GUARD):
            await closed.wait()
        assert (await served.client.get("/ping")).text == "pong"


async def test_client_leaving_an_idle_stream_closes_it_at_the_next_event() -> None:
    seen: list[Request] = []
    release = asyncio.Event()
    closed = asyncio.Event()
    app = App()

    async def idle(request: Request) -> responses.EventSourceResponse:
        seen.append(request)

        async def produce() -> AsyncIterator[str]:
            try:
                yield "hello"
                await release.wait()
                yield "anyone there?"
                yield "still?"
            finally:
                closed.set()

        return responses.EventSourceResponse(produce())

    app.add_endpoint("/idle", idle)
    async with serving(app) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request_bytes("GET", "/idle"))
        assert (await read_head(reader))[0] == 200
        assert await read_chunk(reader) == b"data: hello\n\n"
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(HANG_GUARD):
            await seen[0].spec.wait_disconnected()
        assert seen[0].spec.disconnected
        release.set()
        async with asyncio.timeout(HANG_GUARD):
            await closed.wait()
        assert (await served.client.get("/idle")).status_code == 200


async def test_http_1_0_stream_is_close_delimited(demo_app: Served) -> None:
    data = await exchange(demo_app.port, b"GET /count/3 HTTP/1.0\r\nhost: test\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert not any(line.startswith((b"transfer-encoding", b"content-length")) for line in lines)
    assert body == b"1\n2\n3\n"


async def test_head_of_a_stream_sends_no_content(demo_app: Served) -> None:
    request = request_bytes("HEAD", "/count/3") + request_bytes("GET", "/nowhere", "connection: close")
    (head, after), rest = parse_replies(await exchange(demo_app.port, request), ["HEAD", "GET"])
    assert head.status == 200
    assert head.header("content-type") == "text/plain; charset=utf-8"
    assert after.status == 404  # so nothing was sent after HEAD's header section
    assert rest == b""


async def test_gzip_middleware_compresses_a_stream_on_the_wire() -> None:
    app = App(middleware=[GZipMiddleware()])

    async def lines() -> responses.StreamingResponse:
        async def produce() -> AsyncIterator[str]:
            for block in range(10):
                yield "".join(f"line {number}\n" for number in range(block * 200, block * 200 + 200))

        return responses.StreamingResponse(produce(), media_type="text/plain")

    app.add_endpoint("/lines", lines)
    async with serving(app) as served:
        request = request_bytes("GET", "/lines", "accept-encoding: gzip", "connection: close")
        [reply], _ = parse_replies(await exchange(served.port, request), ["GET"])
        assert reply.header("content-encoding") == "gzip"
        assert reply.header("transfer-encoding") == "chunked"
        expected = "".join(f"line {number}\n" for number in range(2000)).encode()
        assert gzip.decompress(reply.body) == expected
        assert len(reply.body) < len(expected) // 4


# -- request bodies: multipart, limits, Expect: 100-continue ----------------------------------------------


async def describe_upload(request: Request) -> dict[str, Any]:
    form = await request.body.form()
    upload = form["file"]
    assert isinstance(upload, UploadFile)
    digest = hashlib.sha256()
    await upload.seek(0)
    while chunk := await upload.read(256 * 1024):
        digest.update(chunk)
    await form.close()
    return {
        "note": form["note"],
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "sha256": digest.hexdigest(),
    }


async def limited_upload(request: Request) -> dict[str, int]:
    form = await request.body.form(FormLimits(max_file_size=1024 * 1024))
    await form.close()
    return {"fields": len(form)}


async def echo_length(request: Request) -> dict[str, int]:
    return {"length": len(await request.body.bytes())}


async def ignore_body() -> str:
    return "not interested"


def body_app() -> App[Any]:
    app = App()
    app.add_endpoint("/upload", describe_upload, methods=["POST"])
    app.add_endpoint("/limited", limited_upload, methods=["POST"])
    app.add_endpoint("/echo", echo_length, methods=["POST"])
    app.add_endpoint("/ignore", ignore_body, methods=["POST"])
    return app


@pytest.fixture
async def bodies() -> AsyncIterator[Served]:
    async with serving(body_app(), limit_body_size=8 * 1024 * 1024) as served:
        yield served


async def test_multipart_upload_of_several_mebibytes(bodies: Served) -> None:
    payload = random.Random(7).randbytes(5 * 1024 * 1024 + 3)
    response = await bodies.client.post(
        "/upload",
        data={"note": "über"},
        files={"file": ("photo.raw", payload, "image/x-raw")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "note": "über",
        "filename": "photo.raw",
        "content_type": "image/x-raw",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


async def test_multipart_file_over_the_form_limit_is_413(bodies: Served) -> None:
    payload = bytes(2 * 1024 * 1024)
    response = await bodies.client.post("/limited", files={"file": ("big.bin", payload)})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert (await bodies.client.post("/limited", files={"file": ("small.bin", b"ok")})).json() == {
        "fields": 1
    }


async def test_content_length_over_the_server_limit_is_413(bodies: Served) -> None:
    # The client waits for 100 (Continue), so nothing is in flight when the server answers.
    request = request_bytes("POST", "/echo", "content-length: 8388609", "expect: 100-continue")
    [reply], rest = parse_replies(await exchange(bodies.port, request), ["POST"])
    assert reply.status == 413
    assert reply.header("connection") == "close"
    assert rest == b""
    assert (await bodies.client.post("/echo", content=bytes(1000))).json() == {"length": 1000}


async def test_413_for_content_length_over_the_server_limit_reaches_a_client_still_sending(
    bodies: Served,
) -> None:
    response = await bodies.client.post("/echo", content=bytes(8 * 1024 * 1024 + 1))
    assert response.status_code == 413


async def test_413_from_the_app_for_chunked_content_reaches_a_client_still_sending() -> None:
    async with serving(body_app(), limit_body_size=1024) as served:
        size = 512 * 1024
        content = b"%x\r\n%s\r\n0\r\n\r\n" % (size, bytes(size))
        request = request_bytes("POST", "/echo", "transfer-encoding: chunked", body=content)
        [reply], _ = parse_replies(await exchange(served.port, request), ["POST"])
        assert reply.status == 413
        assert reply.body == b'{"detail":"request body exceeds 1024 bytes"}'


async def test_413_from_the_app_for_chunked_content_over_the_server_limit() -> None:
    async with serving(body_app(), limit_body_size=1024) as served:
        content = b"%x\r\n%s\r\n0\r\n\r\n" % (2000, bytes(2000))
        request = request_bytes("POST", "/echo", "transfer-encoding: chunked", body=content)
        [reply], _ = parse_replies(await exchange(served.port, request), ["POST"])
        assert reply.status == 413
        assert reply.header("content-type") == "application/json"
        assert reply.body == b'{"detail":"request body exceeds 1024 bytes"}'


async def test_unread_content_is_skipped_before_the_next_pipelined_request(bodies: Served) -> None:
    # The content of the first request is a request itself; it must be skipped as content.
    hidden = request_bytes("GET", "/hidden")
    request = request_bytes("POST", "/ignore", f"content-length: {len(hidden)}", body=hidden)
    request += request_bytes("POST", "/echo", "content-length: 3", "connection: close", body=b"abc")
    (ignored, echoed), rest = parse_replies(await exchange(bodies.port, request), ["POST", "POST"])
    assert ignored.body == b"not interested"
    assert echoed.body == b'{"length":3}'
    assert rest == b""


async def test_client_leaving_during_an_upload_is_client_disconnected_in_the_handler() -> None:
    failures: list[BaseException] = []
    failed = asyncio.Event()
    app = App()

    async def upload(request: Request) -> str:
        try:
            await request.body.bytes()
        except BaseException as exc:
            failures.append(exc)
            failed.set()
            raise
        return "complete"

    app.add_endpoint("/upload", upload, methods=["POST"])
    async with serving(app) as served:
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request_bytes("POST", "/upload", "content-length: 100000", body=bytes(1000)))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(HANG_GUARD):
            await failed.wait()
        assert isinstance(failures[0], pyre.spec.ClientDisconnected)
        assert (await served.client.post("/upload", content=b"x")).text == "complete"


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (("transfer-encoding: chunked",), 413),
        (("content-length: 10", "expect: 100-continue"), 200),
    ],
    ids=["content-over-the-limit", "content-never-asked-for"],
)
async def test_a_response_before_closing_says_connection_close(
    request_head: tuple[str, ...], status: int
) -> None:
    async with serving(body_app(), limit_body_size=1024) as served:
        path = "/echo" if status == 413 else "/ignore"
        content = b"%x\r\n%s\r\n0\r\n\r\n" % (2000, bytes(2000)) if status == 413 else b""
        data = await exchange(served.port, request_bytes("POST", path, *request_head, body=content))
        [reply], _ = parse_replies(data, ["POST"])
        assert reply.status == status
        assert reply.header("connection") == "close"


async def test_expect_100_continue_is_answered_when_the_handler_reads(seed: Served) -> None:
    content = b'{"age": 7}'
    reader, writer = await asyncio.open_connection("127.0.0.1", seed.port)
    try:
        writer.write(
            request_bytes(
                "POST",
                "/hello/Kid",
                "content-type: application/json",
                f"content-length: {len(content)}",
                "expect: 100-continue",
                "connection: close",
            )
        )
        async with asyncio.timeout(HANG_GUARD):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(content)
        async with asyncio.timeout(HANG_GUARD):
            data = await reader.read()
        [reply], rest = parse_replies(data, ["POST"])
        assert reply.status == 200
        assert reply.body == b'{"message":"Hello, Kid! You are aged: 7"}'
        assert rest == b""
    finally:
        writer.close()


async def test_expect_100_continue_without_reading_gets_the_final_answer_only(bodies: Served) -> None:
    # The content the client holds back looks like a request: if the server ever read it as
    # one, it would answer it.
    smuggled = request_bytes("GET", "/smuggled", "connection: close")
    reader, writer = await asyncio.open_connection("127.0.0.1", bodies.port)
    try:
        writer.write(
            request_bytes("POST", "/ignore", f"content-length: {len(smuggled)}", "expect: 100-continue")
        )
        status, _, fields = await read_head(reader)
        assert status == 200
        length = int(dict(fields)["content-length"])
        async with asyncio.timeout(HANG_GUARD):
            assert await reader.readexactly(length) == b"not interested"
        # A client that gave up waiting for 100 sends the content anyway.
        writer.write(smuggled)
        async with asyncio.timeout(HANG_GUARD):
            rest = await reader.read()
        assert b"HTTP/1.1" not in rest
    finally:
        writer.close()


# -- middleware and lifespan under the real server ---------------------------------------------------------


class Trace:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        self.log.append(f"{self.name}>")
        response = await call_next(request)
        self.log.append(f"<{self.name}")
        response.headers = [*response.headers, (b"x-trace", self.name.encode())]
        return response


async def require_token(request: Request, call_next: CallNext) -> pyre.spec.Response:
    if request.headers.get("authorization") != "Bearer secret":
        return responses.JSONResponse({"detail": "Unauthorized"}, status=401)
    return await call_next(request)


def traced_app(log: list[str]) -> App[Any]:
    class Traced(framework.Blueprint):
        middleware = (Trace("bp", log),)

        @framework.before_request
        def before(self, request: Request) -> None:
            log.append("bp-before")

        @framework.after_request
        def after(self, request: Request, response: pyre.spec.Response) -> None:
            log.append("bp-after")

        @framework.endpoint("/traced", middleware=[Trace("ep", log)])
        async def traced(self) -> str:
            log.append("handler")
            return "ok"

        @framework.endpoint("/guarded", middleware=[require_token])
        async def guarded(self) -> str:
            log.append("guarded handler")
            return "secret"

    app = App(middleware=[Trace("app1", log), Trace("app2", log)])
    app.before_request(lambda request: log.append("app-before"))
    app.after_request(lambda request, response: log.append("app-after"))
    app.add_blueprint(Traced())
    return app


async def test_middleware_and_hooks_run_outside_in() -> None:
    log: list[str] = []
    async with serving(traced_app(log)) as served:
        response = await served.client.get("/traced")
        assert response.text == "ok"
        assert log == [
            "app1>",
            "app2>",
            "app-before",
            "bp-before",
            "bp>",
            "ep>",
            "handler",
            "<ep",
            "<bp",
            "bp-after",
            "app-after",
            "<app2",
            "<app1",
        ]
        assert response.headers.get_list("x-trace") == ["ep", "bp", "app2", "app1"]


async def test_middleware_short_circuits_and_app_middleware_sees_404() -> None:
    log: list[str] = []
    async with serving(traced_app(log)) as served:
        refused = await served.client.get("/guarded")
        assert refused.status_code == 401
        assert "guarded handler" not in log
        allowed = await served.client.get("/guarded", headers={"authorization": "Bearer secret"})
        assert allowed.text == "secret"
        log.clear()
        missing = await served.client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.headers.get_list("x-trace") == ["app2", "app1"]
        assert log == ["app1>", "app2>", "app-before", "app-after", "<app2", "<app1"]


async def test_lifespan_hooks_run_under_the_server() -> None:
    events: list[str] = []

    class Database(framework.Blueprint):
        def __init__(self) -> None:
            self.connected = False

        @framework.on_startup
        async def connect(self) -> None:
            await asyncio.sleep(0)
            self.connected = True
            events.append("blueprint startup")

        @framework.on_shutdown
        def disconnect(self) -> None:
            self.connected = False
            events.append("blueprint shutdown")

        @framework.endpoint("/status")
        async def status(self, request: Request) -> dict[str, Any]:
            app = request.app
            return {
                "connected": self.connected,
                "greeting": app.state.greeting,
                "server": app.server_info.name,
            }

    app = App()

    @app.on_startup
    def startup() -> None:
        app.state.greeting = "ready"
        events.append("app startup")

    @app.on_shutdown
    async def shutdown() -> None:
        events.append("app shutdown")

    app.add_blueprint(Database())
    async with serving(app) as served:
        assert events == ["app startup", "blueprint startup"]
        response = await served.client.get("/status")
        assert response.json()["connected"] is True
        assert response.json()["greeting"] == "ready"
        assert response.json()["server"].startswith("pyre-server/")
    assert events == ["app startup", "blueprint startup", "blueprint shutdown", "app shutdown"]


async def test_failing_startup_hook_stops_the_server_from_serving() -> None:
    app = App()

    @app.on_startup
    def startup() -> None:
        raise RuntimeError("no database")

    server = Server(app, Config(host="127.0.0.1", port=0, access_log=False))
    with pytest.raises(StartupError, match="no database"):
        await server.start()
    assert server.sockets == []


async def test_sync_handler_runs_under_the_server() -> None:
    app = App()

    def blocking(n: int) -> dict[str, int]:
        return {"square": n * n}

    app.add_endpoint("/square/{n:int}", blocking)
    async with serving(app) as served:
        assert (await served.client.get("/square/12")).json() == {"square": 144}


async def test_http_exception_headers_reach_the_wire() -> None:
    app = App()

    async def private() -> str:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": 'Bearer realm="pyre"'})

    app.add_endpoint("/private", private)
    async with serving(app) as served:
        data = await exchange(served.port, request_bytes("GET", "/private", "connection: close"))
        [reply], _ = parse_replies(data, ["GET"])
        assert reply.status == 401
        assert reply.header("www-authenticate") == 'Bearer realm="pyre"'
        assert reply.body == b'{"detail":"log in first"}'


LISTENING = re.compile(rb"Listening on http://127\.0\.0\.1:(\d+)")


async def test_demo_runs_under_the_command_line_server() -> None:
    """What ``nox -s demo`` runs, from the repository root."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyre.server",
        "examples.demo:app",
        "--port",
        "0",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(HANG_GUARD):
            while not (found := LISTENING.search(await process.stderr.readline())):
                pass
        base_url = f"http://127.0.0.1:{int(found[1])}"
        async with httpx.AsyncClient(base_url=base_url, timeout=HANG_GUARD) as client:
            assert (await client.get("/hello/Ada")).text == "Hello, Ada!"
            assert (await client.get("/users/2")).json() == {"id": 2, "name": "Alan", "age": 41}
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(HANG_GUARD):
            assert await process.wait() == 0


# -- path traversal: route parameters and StaticFiles (issue #16, item 2) --------------------------------

TRAVERSAL_TARGETS = [
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    ".%2E/secret.txt",
    "sub/../../secret.txt",
    "..%5Csecret.txt",
    "sub%5C..%5C..%5Csecret.txt",
    "..\\secret.txt",  # a raw backslash: pyre-server passes it on
    "hello.txt%00",
    "%00",
    "%C0%AE%C0%AE/secret.txt",
    "%C0%AE%C0%AE%C0%AFsecret.txt",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "link-out.txt",
    "dir-out/key.txt",
]
"""What follows ``/static/`` (or ``/`` for the bare app); each must be a 404."""


@pytest.fixture
def public(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory to serve, with a secret beside it and symlinks leading out to it."""
    directory = tmp_path / "public"
    (directory / "sub").mkdir(parents=True)
    (directory / "hello.txt").write_bytes(b"hello, world")
    (directory / "sub" / "index.html").write_bytes(b"<p>sub</p>")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_bytes(b"secret key")
    (directory / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (directory / "dir-out").symlink_to(tmp_path / "private")
    return directory


def static_app(directory: pathlib.Path) -> App[Any]:
    app = App()
    files = StaticFiles(directory, html=True)
    app.add_endpoint("/static/{path:path}", files.endpoint, name="static")

    async def download(name: str) -> responses.FileResponse:
        # The route of the issue: a single segment joined to a directory.
        return responses.FileResponse(directory / name)

    app.add_endpoint("/files/{name}", download, name="download")
    return app


async def pipelined(port: int, targets: list[str]) -> list[Reply]:
    """GET each target as written, on one connection, and the replies in order."""
    data = b"".join(request_bytes("GET", target) for target in targets[:-1])
    data += request_bytes("GET", targets[-1], "connection: close")
    replies, rest = parse_replies(await exchange(port, data), ["GET"] * len(targets))
    assert rest == b""
    return replies


async def test_single_segment_parameter_cannot_reach_outside_its_directory(public: pathlib.Path) -> None:
    async with serving(static_app(public)) as served:
        targets = [
            "/files/hello.txt",
            "/files/..%2fsecret.txt",
            "/files/..%2Fsecret.txt",
            "/files/%2e%2e%2Fsecret.txt",
        ]
        ok, *refused = await pipelined(served.port, targets)
    assert (ok.status, ok.body) == (200, b"hello, world")
    for target, reply in zip(targets[1:], refused, strict=True):
        assert reply.status == 404, target
        assert b"secret" not in reply.body


async def test_static_files_route_refuses_every_traversal_on_the_wire(public: pathlib.Path) -> None:
    async with serving(static_app(public)) as served:
        targets = [f"/static/{rest}" for rest in TRAVERSAL_TARGETS]
        replies = await pipelined(served.port, [*targets, "/static/hello.txt"])
    *refused, ok = replies
    for target, reply in zip(targets, refused, strict=True):
        assert reply.status == 404, target
        assert reply.body == b'{"detail":"Not Found"}', target
    assert (ok.status, ok.body) == (200, b"hello, world")


async def test_static_files_app_refuses_every_traversal_on_the_wire(public: pathlib.Path) -> None:
    async with serving(StaticFiles(public)) as served:
        targets = [f"/{rest}" for rest in TRAVERSAL_TARGETS]
        replies = await pipelined(served.port, [*targets, "/hello.txt"])
    *refused, ok = replies
    for target, reply in zip(targets, refused, strict=True):
        assert reply.status == 404, target
        assert b"secret" not in reply.body
    assert (ok.status, ok.body) == (200, b"hello, world")


async def test_static_files_sends_validators_ranges_and_head_on_the_wire(public: pathlib.Path) -> None:
    async with serving(static_app(public)) as served:
        response = await served.client.get("/static/hello.txt")
        assert response.status_code == 200
        assert response.content == b"hello, world"
        assert response.headers["content-length"] == "12"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        etag = response.headers["etag"]
        assert (
            await served.client.get("/static/hello.txt", headers={"if-none-match": etag})
        ).status_code == 304
        partial = await served.client.get("/static/hello.txt", headers={"range": "bytes=7-11"})
        assert (partial.status_code, partial.content) == (206, b"world")
        assert partial.headers["content-range"] == "bytes 7-11/12"
        index = await served.client.get("/static/sub/")
        assert (index.status_code, index.content) == (200, b"<p>sub</p>")
        redirect = await served.client.get("/static/sub")
        assert (redirect.status_code, redirect.headers["location"]) == (307, "sub/")
        refused = await served.client.post("/static/hello.txt")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
        request = request_bytes("HEAD", "/static/hello.txt") + request_bytes(
            "GET", "/static/sub/", "connection: close"
        )
        (head, get), rest = parse_replies(await exchange(served.port, request), ["HEAD", "GET"])
    assert (head.status, head.header("content-length"), head.header("etag")) == (200, "12", etag)
    assert get.body == b"<p>sub</p>"
    assert rest == b""
