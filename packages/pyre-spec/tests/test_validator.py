"""The validator catches each broken requirement by its assertion ID and passes correct apps untouched."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyre.spec import (
    EXT_UPGRADE,
    Application,
    ByteStream,
    ClientDisconnected,
    FileBody,
    HasLifespan,
    Headers,
    RawHeaders,
    Request,
    RequestBodyTooLarge,
    Response,
    ServerInfo,
    State,
)
from pyre.spec.testing import (
    DRIVER_INFO,
    Driver,
    DriverResponse,
    MemoryBody,
    MemoryRequest,
    SpecViolation,
    validate,
)

SPEC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "spec" / "index.md"
VALIDATOR = pathlib.Path(__file__).resolve().parents[1] / "src" / "pyre" / "spec" / "testing" / "_validator"


async def run(app: Application, method: str = "GET", target: str = "/", **options: Any) -> DriverResponse:
    async with Driver(validate(app)) as driver:
        return await driver.request(method, target, **options)


async def expect(assertion: str, app: Application, method: str = "GET", **options: Any) -> SpecViolation:
    with pytest.raises(SpecViolation) as caught:
        await run(app, method, **options)
    assert caught.value.assertion == assertion, str(caught.value)
    assert str(caught.value).startswith(f"{assertion}: ")
    return caught.value


def answer(**slots: Any) -> Application:
    """An app returning a Response whose slots are set as given, valid or not."""

    async def app(request: Request) -> Response:
        response = Response()
        for name, value in slots.items():
            setattr(response, name, value)
        return response

    return app


async def chunks(*parts: Any) -> AsyncIterator[Any]:
    for part in parts:
        yield part


async def no_trailers() -> RawHeaders:
    return []


async def ignore_stream(stream: ByteStream) -> None:
    pass


# ---------------------------------------------------------------- correct applications pass


async def test_bytes_response_passes_as_the_same_object() -> None:
    original = Response(200, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"hi")

    async def app(request: Request) -> Response:
        return original

    validated = validate(app)
    request = Driver(app).build("GET", "/")
    assert await validated(request) is original


async def test_echo_of_a_streamed_request_body_passes() -> None:
    async def app(request: Request) -> Response:
        received = [chunk async for chunk in request.body]
        assert request.trailers is not None
        assert await request.body.read() == b""
        return Response(200, [(b"x-chunks", str(len(received)).encode())], b"".join(received))

    response = await run(app, "POST", body=chunks(b"ab", b"", b"cd"), trailers=[(b"x-sum", b"4")])
    assert response.body == b"abcd"
    assert response.headers["x-chunks"] == "2"


async def test_read_with_content_length_passes() -> None:
    async def app(request: Request) -> Response:
        return Response(200, [], await request.body.read(max_size=10))

    response = await run(app, "PUT", body=b"12345", headers=[(b"content-length", b"5")])
    assert response.body == b"12345"


async def test_request_body_too_large_reaches_the_app_unchanged() -> None:
    async def app(request: Request) -> Response:
        try:
            await request.body.read(max_size=2)
        except RequestBodyTooLarge as error:
            return Response(413, [], b"limit %d" % error.limit)
        return Response(200)

    response = await run(app, "POST", body=b"too long")
    assert (response.status, response.body) == (413, b"limit 2")


async def test_streaming_response_with_trailers_passes_and_keeps_its_subclass() -> None:
    class Streaming(Response):
        __slots__ = ()

    async def trailers() -> RawHeaders:
        return [(b"x-checksum", b"abc")]

    async def app(request: Request) -> Response:
        return Streaming(200, [(b"trailer", b"x-checksum")], chunks(b"a", b"", b"b"), trailers=trailers)

    response = await run(app)
    assert response.body == b"ab"
    assert response.trailers == Headers([(b"x-checksum", b"abc")])
    assert isinstance(response.response, Streaming)


async def test_stream_with_matching_content_length_passes() -> None:
    response = await run(answer(headers=[(b"content-length", b"3")], body=chunks(b"ab", b"c")))
    assert response.body == b"abc"


async def test_file_bodies_by_path_and_fd_pass(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    by_path = await run(
        answer(headers=[(b"content-length", b"3")], body=FileBody(path=path, offset=2, count=3))
    )
    fd = os.open(path, os.O_RDONLY)
    by_fd = await run(answer(headers=[(b"content-length", b"6")], body=FileBody(fd=fd, offset=4)))
    assert (by_path.body, by_fd.body) == (b"234", b"456789")


async def test_head_and_304_may_declare_the_get_length() -> None:
    declared = [(b"content-length", b"1000")]
    assert (await run(answer(headers=declared), "HEAD")).status == 200
    assert (await run(answer(status=304, headers=declared))).status == 304


async def test_interim_responses_pass() -> None:
    async def app(request: Request) -> Response:
        await request.send_interim(103, [(b"link", b"</a.css>; rel=preload")])
        return Response(200)

    response = await run(app)
    assert [status for status, _ in response.interim] == [103]


async def test_interim_status_errors_stay_value_errors() -> None:
    async def app(request: Request) -> Response:
        await request.send_interim(204)
        return Response(200)

    with pytest.raises(ValueError, match="1xx"):
        await run(app)


async def test_disconnect_is_reported_through_the_validator() -> None:
    async def app(request: Request) -> Response:
        assert request.disconnected is False
        request_object.disconnect()
        await request.wait_disconnected()
        return Response(200 if request.disconnected else 500)

    driver = Driver(validate(app))
    request_object = driver.build("GET", "/")
    assert (await driver.send(request_object)).status == 200


async def test_lifespan_app_passes_and_shares_state() -> None:
    events: list[str] = []

    class App:
        @asynccontextmanager
        async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
            events.append(f"startup {server.name}")
            state["greeting"] = b"hello"
            yield
            events.append("shutdown")

        async def __call__(self, request: Request) -> Response:
            return Response(200, [], request.state["greeting"])

    validated = validate(App())
    assert isinstance(validated, HasLifespan)
    async with Driver(validated) as driver:
        first = await driver.request("GET", "/")
        second = await driver.request("GET", "/")
    assert first.body == second.body == b"hello"
    assert events == ["startup pyre-spec-driver", "shutdown"]


def test_an_app_without_lifespan_stays_without() -> None:
    assert not isinstance(validate(answer()), HasLifespan)


# ---------------------------------------------------------------- the application's response


async def noop_upgrade(stream: ByteStream) -> None:
    pass


BAD_RESPONSES: list[tuple[str, dict[str, Any], str]] = [
    ("PYRE-RESP-2", {"status": 700}, "status 700"),
    ("PYRE-RESP-2", {"status": True}, "status True"),
    ("PYRE-RESP-2", {"status": 103}, "status 103"),
    ("PYRE-RESP-2", {"status": "200"}, "status '200'"),
    ("PYRE-UPG-1", {"status": 101}, "status 101"),
    ("PYRE-UPG-1", {"upgrade": noop_upgrade}, "status 200"),
    ("PYRE-RESP-3", {"headers": {b"a": b"b"}}, "not a sequence"),
    ("PYRE-RESP-3", {"headers": b"a: b"}, "not a sequence"),
    ("PYRE-RESP-3", {"headers": [[b"a", b"b"]]}, "not a (bytes, bytes) tuple"),
    ("PYRE-RESP-3", {"headers": [("a", "b")]}, "not a (bytes, bytes) tuple"),
    ("PYRE-RESP-4", {"headers": [(b"X-A", b"1")]}, "header name b'X-A' is not lowercase"),
    ("PYRE-RESP-4", {"headers": [(b"a b", b"1")]}, "is not a token"),
    ("PYRE-RESP-4", {"headers": [(b"a:b", b"1")]}, "is not a token"),
    ("PYRE-RESP-4", {"headers": [(b"", b"1")]}, "is not a token"),
    ("PYRE-RESP-5", {"headers": [(b"a", b"x\r\nset-cookie: y")]}, "CR, LF or NUL"),
    ("PYRE-RESP-5", {"headers": [(b"a", b"x\x00")]}, "CR, LF or NUL"),
    ("PYRE-FRAME-5", {"headers": [(b"transfer-encoding", b"chunked")]}, "transfer-encoding"),
    ("PYRE-FRAME-2", {"headers": [(b"content-length", b"3")], "body": b"ab"}, "has 2 bytes"),
    ("PYRE-FRAME-2", {"headers": [(b"content-length", b"+2")], "body": b"ab"}, "decimal"),
    ("PYRE-FRAME-2", {"headers": [(b"content-length", b"2")] * 2, "body": b"ab"}, "decimal"),
    ("PYRE-RESP-10", {"body": "text"}, "not bytes"),
    ("PYRE-RESP-10", {"body": bytearray(b"x")}, "not bytes"),
    ("PYRE-RESP-10", {"body": [b"x"]}, "not bytes"),
    ("PYRE-RESP-14", {"trailers": [(b"x", b"y")]}, "not callable"),
]


@pytest.mark.parametrize(("assertion", "slots", "message"), BAD_RESPONSES)
async def test_bad_response_is_caught(assertion: str, slots: dict[str, Any], message: str) -> None:
    violation = await expect(assertion, answer(**slots))
    assert message in str(violation)


async def test_header_name_message_names_the_field() -> None:
    violation = await expect("PYRE-RESP-4", answer(headers=[(b"X-A", b"1")]))
    assert str(violation) == "PYRE-RESP-4: header name b'X-A' is not lowercase"


async def test_returning_something_else_than_a_response() -> None:
    async def app(request: Request) -> Any:
        return {"status": 200}

    await expect("PYRE-RESP-1", app)


async def test_a_synchronous_app_is_not_an_application() -> None:
    def app(request: Request) -> Any:
        return Response(200)

    await expect("PYRE-APP-1", app)


async def test_stream_chunks_must_be_bytes() -> None:
    await expect("PYRE-RESP-11", answer(body=chunks(b"a", "b")))


async def test_stream_longer_than_content_length() -> None:
    violation = await expect("PYRE-FRAME-2", answer(headers=[(b"content-length", b"2")], body=chunks(b"abc")))
    assert "yielded 3 bytes" in str(violation)


async def test_file_region_must_match_content_length(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    body = FileBody(path=path, offset=8)
    await expect("PYRE-FRAME-2", answer(headers=[(b"content-length", b"10")], body=body))


async def test_file_body_fields_are_checked(tmp_path: pathlib.Path) -> None:
    body = FileBody(path=tmp_path / "f")
    object.__setattr__(body, "offset", -1)
    await expect("PYRE-RESP-17", answer(body=body))


@pytest.mark.parametrize(
    "fields",
    [[(b"X-Sum", b"1")], [(b"x-sum", b"a\nb")], [(b"content-length", b"3")], [["x", "y"]], b"x-sum: 1"],
)
async def test_bad_trailers_are_caught(fields: Any) -> None:
    async def trailers() -> Any:
        return fields

    await expect("PYRE-RESP-14", answer(body=chunks(b"a"), trailers=trailers))


async def test_interim_headers_follow_response_header_rules() -> None:
    async def app(request: Request) -> Response:
        await request.send_interim(103, [(b"Link", b"</a>")])
        return Response(200)

    violation = await expect("PYRE-RESP-4", app)
    assert "interim header name b'Link'" in str(violation)


async def test_send_interim_after_the_final_response() -> None:
    async def app(request: Request) -> Response:
        async def late() -> AsyncIterator[bytes]:
            await request.send_interim(103)
            yield b"x"

        return Response(200, [], late())

    await expect("PYRE-REQ-20", app)


# ---------------------------------------------------------------- protocol upgrade


class MemoryStream:
    """A ByteStream over two in-memory queues, standing in for a connection."""

    def __init__(self, incoming: list[bytes], fail_writes: BaseException | None = None) -> None:
        self.incoming = incoming
        self.written: list[bytes] = []
        self.closed = False
        self.fail_writes = fail_writes

    async def read(self, max_bytes: int = 65536) -> bytes:
        return self.incoming.pop(0) if self.incoming else b""

    async def write(self, data: bytes) -> None:
        if self.fail_writes is not None:
            raise self.fail_writes
        self.written.append(data)

    async def close(self) -> None:
        self.closed = True


UPGRADE_HEADERS = [(b"upgrade", b"echo"), (b"connection", b"keep-alive, Upgrade")]
UPGRADE_INFO = ServerInfo("upgrading", extensions=frozenset({EXT_UPGRADE}))


async def upgraded(
    handler: Callable[[ByteStream], Awaitable[None]],
    stream: MemoryStream,
    headers: RawHeaders = UPGRADE_HEADERS,
    server_info: ServerInfo = UPGRADE_INFO,
) -> None:
    async def app(request: Request) -> Response:
        return Response(101, [(b"upgrade", b"echo")], upgrade=handler)

    driver = Driver(validate(app), server_info=server_info)
    response = await driver.request("GET", "/", headers=headers)
    assert response.response is not None
    assert response.response.upgrade is not None
    await response.response.upgrade(stream)


async def echo_once(stream: ByteStream) -> None:
    await stream.write(await stream.read())
    await stream.close()


async def test_upgrade_passes() -> None:
    stream = MemoryStream([b"ping"])
    await upgraded(echo_once, stream)
    assert (stream.written, stream.closed) == ([b"ping"], True)


@pytest.mark.parametrize(
    ("headers", "server_info", "message"),
    [
        ([(b"connection", b"upgrade")], UPGRADE_INFO, "without Upgrade"),
        ([(b"upgrade", b"echo")], UPGRADE_INFO, "without Upgrade"),
        (UPGRADE_HEADERS, DRIVER_INFO, "does not list"),
    ],
)
async def test_upgrade_needs_an_upgrade_request(
    headers: RawHeaders, server_info: ServerInfo, message: str
) -> None:
    with pytest.raises(SpecViolation, match=rf"^PYRE-UPG-2: .*{message}"):
        await upgraded(echo_once, MemoryStream([]), headers, server_info)


async def test_upgrade_response_names_the_protocol() -> None:
    app = answer(status=101, upgrade=noop_upgrade)
    driver = Driver(validate(app), server_info=UPGRADE_INFO)
    with pytest.raises(SpecViolation, match=r"^PYRE-UPG-2: the 101 response has no upgrade header"):
        await driver.request("GET", "/", headers=UPGRADE_HEADERS)


async def test_upgrade_handler_writes_bytes_only() -> None:
    async def handler(stream: ByteStream) -> None:
        await stream.write("text")  # type: ignore[arg-type]

    with pytest.raises(SpecViolation, match=r"^PYRE-UPG-8"):
        await upgraded(handler, MemoryStream([]))


async def test_upgrade_handler_stops_using_the_stream_when_it_returns() -> None:
    kept: list[ByteStream] = []

    async def handler(stream: ByteStream) -> None:
        kept.append(stream)

    await upgraded(handler, MemoryStream([]))
    with pytest.raises(SpecViolation, match=r"^PYRE-UPG-8"):
        await kept[0].write(b"late")


async def test_server_stream_reads_are_checked() -> None:
    async def read_twice(stream: ByteStream) -> None:
        assert await stream.read(2) == b"ab"
        await stream.read(2)

    with pytest.raises(SpecViolation, match=r"^PYRE-UPG-5"):
        await upgraded(read_twice, MemoryStream([b"ab", b"cde"]))


async def test_server_stream_write_errors_must_be_client_disconnected() -> None:
    async def write(stream: ByteStream) -> None:
        await stream.write(b"x")

    with pytest.raises(ClientDisconnected):
        await upgraded(write, MemoryStream([], fail_writes=ClientDisconnected()))
    with pytest.raises(SpecViolation, match=r"^PYRE-ERR-3"):
        await upgraded(write, MemoryStream([], fail_writes=ConnectionResetError()))


# ---------------------------------------------------------------- the server's request


async def send_broken(app: Application, **attributes: Any) -> DriverResponse:
    """Send a request whose attributes a buggy server got wrong."""
    driver = Driver(validate(app))
    request = driver.build("GET", "/")
    for name, value in attributes.items():
        setattr(request, name, value)
    return await driver.send(request)


async def ok(request: Request) -> Response:
    return Response(200)


BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("PYRE-REQ-2", {"method": "GE T"}),
    ("PYRE-REQ-2", {"method": b"GET"}),
    ("PYRE-REQ-3", {"target": "/"}),
    ("PYRE-REQ-4", {"raw_path": b"/other"}),
    ("PYRE-REQ-4", {"raw_path": "/"}),
    ("PYRE-REQ-5", {"path": "/other"}),
    ("PYRE-REQ-6", {"query": b"x=1"}),
    ("PYRE-REQ-7", {"http_version": "HTTP/1.1"}),
    ("PYRE-REQ-7", {"http_version": "2.0"}),
    ("PYRE-REQ-8", {"scheme": "ws"}),
    ("PYRE-REQ-9", {"authority": "elsewhere"}),
    ("PYRE-REQ-11", {"client": ["127.0.0.1", 5000]}),
    ("PYRE-REQ-11", {"server": ("127.0.0.1", "80")}),
    ("PYRE-REQ-12", {"root_path": None}),
    ("PYRE-REQ-13", {"state": None}),
    ("PYRE-REQ-14", {"extensions": {"pyre.tls": {}}}),
    ("PYRE-REQ-14", {"extensions": [("a", 1)]}),
    ("PYRE-REQ-15", {"server_info": "pyre"}),
    ("PYRE-REQ-1", {"wait_disconnected": None}),
    ("PYRE-HDR-1", {"headers": [(b"host", b"testserver")]}),
    ("PYRE-HDR-1", {"headers": Headers([(b"host", "testserver")])}),  # type: ignore[list-item]
    ("PYRE-HDR-2", {"headers": Headers([(b"host", b"testserver"), (b"accept", b"a ")])}),
    ("PYRE-HDR-5", {"headers": Headers([(b"host", b"testserver"), (b"bad name", b"a")])}),
    ("PYRE-HDR-5", {"headers": Headers([(b"host", b"testserver"), (b"a", b"b\r\nc: d")])}),
    ("PYRE-HDR-7", {"trailers": Headers([(b"x-sum", b"1")])}),
    ("PYRE-VER-1", {"server_info": ServerInfo("old", spec_version="1")}),
    ("PYRE-VER-2", {"server_info": ServerInfo("odd", extensions={"pyre.upgrade"})}),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("assertion", "attributes"), BAD_REQUESTS)
async def test_bad_request_is_caught(assertion: str, attributes: dict[str, Any]) -> None:
    with pytest.raises(SpecViolation) as caught:
        await send_broken(ok, **attributes)
    assert caught.value.assertion == assertion, str(caught.value)


async def test_empty_content_may_have_its_empty_trailers_from_the_start() -> None:
    # Content of length 0 is consumed to its end before the app reads it (PYRE-HDR-9).
    response = await send_broken(ok, trailers=Headers())
    assert response.status == 200
    driver = Driver(validate(ok))
    request = driver.build("POST", "/", body=b"ok")
    request.trailers = Headers()
    with pytest.raises(SpecViolation, match=r"^PYRE-HDR-7"):
        await driver.send(request)


async def test_disconnected_is_checked_on_every_read() -> None:
    async def app(request: Request) -> Response:
        request_object.disconnected = "yes"  # type: ignore[misc]
        return Response(200 if request.disconnected else 500)

    class Flaky(MemoryRequest):
        disconnected = False  # type: ignore[assignment]

    request_object = Flaky("GET", "/", headers=[(b"host", b"x")])
    with pytest.raises(SpecViolation, match=r"^PYRE-REQ-16"):
        await validate(app)(request_object)


async def test_disconnected_must_be_a_bool() -> None:
    class Confused(MemoryRequest):
        disconnected = "no"  # type: ignore[assignment]

    with pytest.raises(SpecViolation, match=r"^PYRE-REQ-16: disconnected is 'no'"):
        await validate(ok)(Confused("GET", "/", headers=[(b"host", b"x")]))


async def test_a_missing_attribute_is_caught() -> None:
    class Partial(MemoryRequest):
        def __getattribute__(self, name: str) -> Any:
            if name == "root_path":
                raise AttributeError(name)
            return super().__getattribute__(name)

    with pytest.raises(SpecViolation, match=r"^PYRE-REQ-1: the request has no attribute 'root_path'"):
        await validate(ok)(Partial("GET", "/", headers=[(b"host", b"x")]))


async def test_http11_needs_exactly_one_host() -> None:
    for headers in ([], [(b"host", b"a"), (b"host", b"b")]):
        with pytest.raises(SpecViolation, match=r"^PYRE-REQ-10"):
            await validate(ok)(MemoryRequest("GET", "/", headers=headers))
    assert (await validate(ok)(MemoryRequest("GET", "/", http_version="1.0"))).status == 200


async def test_http2_is_version_2() -> None:
    # PYRE-REQ-7 and spec section 1.6: "2", and no other spelling of it ("2.0" is in BAD_REQUESTS).
    assert (await validate(ok)(MemoryRequest("GET", "/", http_version="2"))).status == 200


async def test_target_forms_give_the_expected_parts() -> None:
    seen: list[tuple[bytes, str, bytes, str | None]] = []

    async def app(request: Request) -> Response:
        seen.append((request.raw_path, request.path, request.query, request.authority))
        return Response(200)

    await send_broken(
        app, target=b"/a%20b%F0?x=%41", raw_path=b"/a%20b%F0", path="/a b\ufffd", query=b"x=%41"
    )
    await send_broken(app, target=b"http://h:81?q", raw_path=b"/", path="/", query=b"q", authority="h:81")
    await send_broken(app, method="OPTIONS", target=b"*", raw_path=b"*", path="*", query=b"")
    await send_broken(
        app, method="CONNECT", target=b"h:443", raw_path=b"", path="", query=b"", authority="h:443"
    )
    assert seen == [
        (b"/a%20b%F0", "/a b\ufffd", b"x=%41", "testserver"),
        (b"/", "/", b"q", "h:81"),
        (b"*", "*", b"", "testserver"),
        (b"", "", b"", "h:443"),
    ]


async def test_body_length_must_match_the_framing_fields() -> None:
    with pytest.raises(SpecViolation, match=r"^PYRE-BODY-2: body.length is 2 but Content-Length is 5"):
        await run(ok, "POST", body=b"ab", headers=[(b"content-length", b"5")])
    with pytest.raises(SpecViolation, match=r"^PYRE-BODY-2: body.length is 2 for chunked"):
        await run(ok, "POST", body=b"ab", headers=[(b"transfer-encoding", b"chunked")])


class FaultyBody(MemoryBody):
    """A server body that gets one thing wrong, chosen by ``fault``."""

    def __init__(self, request: MemoryRequest, content: bytes, fault: str) -> None:
        super().__init__(request, content)
        self.fault = fault

    async def read(self, max_size: int | None = None) -> Any:
        if self.fault == "str":
            return "text"
        if self.fault == "reset":
            raise ConnectionResetError
        if self.fault == "ignore-limit":
            return await super().read()
        if self.fault == "no-trailers":
            content = await super().read(max_size)
            self._request.trailers = None
            return content
        return await super().read(max_size)

    async def __aiter__(self) -> AsyncIterator[Any]:
        if self.fault == "empty-chunk":
            yield b""
        while True:
            try:
                chunk = await MemoryBody.__anext__(self)
            except StopAsyncIteration:
                return
            yield chunk


@pytest.mark.parametrize(
    ("fault", "assertion"),
    [
        ("str", "PYRE-BODY-3"),
        ("reset", "PYRE-ERR-3"),
        ("ignore-limit", "PYRE-BODY-6"),
        ("no-trailers", "PYRE-HDR-7"),
        ("empty-chunk", "PYRE-BODY-4"),
    ],
)
async def test_faulty_body_is_caught(fault: str, assertion: str) -> None:
    async def app(request: Request) -> Response:
        if fault == "empty-chunk":
            return Response(200, [], b"".join([chunk async for chunk in request.body]))
        return Response(200, [], await request.body.read(max_size=3 if fault == "ignore-limit" else None))

    request = MemoryRequest("POST", "/", headers=[(b"host", b"x")])
    request.body = FaultyBody(request, b"abcdef", fault)
    with pytest.raises(SpecViolation) as caught:
        await validate(app)(request)
    assert caught.value.assertion == assertion, str(caught.value)


async def test_server_must_reject_invalid_interim_statuses() -> None:
    class Lenient(MemoryRequest):
        async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
            self.interim.append((status, Headers(headers)))

    async def app(request: Request) -> Response:
        await request.send_interim(101)
        return Response(200)

    with pytest.raises(SpecViolation, match=r"^PYRE-REQ-19: send_interim accepted status 101"):
        await validate(app)(Lenient("GET", "/", headers=[(b"host", b"x")]))


async def test_app_outside_a_task_is_caught() -> None:
    coroutine = validate(ok)(Driver(ok).build("GET", "/"))
    outcome: list[BaseException] = []

    def step() -> None:  # what a server stepping the coroutine from a protocol callback would do
        try:
            coroutine.send(None)  # type: ignore[attr-defined]
        except BaseException as error:
            outcome.append(error)

    asyncio.get_running_loop().call_soon(step)
    await asyncio.sleep(0)
    assert isinstance(outcome[0], SpecViolation)
    assert outcome[0].assertion == "PYRE-APP-5"


# ---------------------------------------------------------------- trailers as the server calls them


async def test_server_calls_trailers_after_the_content_and_once() -> None:
    app = validate(answer(body=chunks(b"a"), trailers=no_trailers))
    early = await app(Driver(app).build("GET", "/"))
    assert early.trailers is not None
    with pytest.raises(SpecViolation, match=r"^PYRE-RESP-15: .*before the last chunk"):
        await early.trailers()

    twice = await app(Driver(app).build("GET", "/"))
    assert twice.trailers is not None
    assert not isinstance(twice.body, (bytes, FileBody))
    assert [chunk async for chunk in twice.body] == [b"a"]
    assert await twice.trailers() == []
    with pytest.raises(SpecViolation, match=r"^PYRE-RESP-15: .*more than once"):
        await twice.trailers()


async def test_closing_the_stream_early_closes_the_apps_generator() -> None:
    closed: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            closed.append(True)

    validated = await validate(answer(body=body()))(Driver(ok).build("GET", "/"))
    stream = validated.body
    assert isinstance(stream, AsyncIterator)
    assert await anext(stream) == b"a"
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]


# ---------------------------------------------------------------- lifespan


class LifespanApp:
    def __init__(self, manager: Callable[[ServerInfo, State], Any] | None = None) -> None:
        self.manager = manager
        self.release = asyncio.Event()

    def lifespan(self, server: ServerInfo, state: State) -> Any:
        if self.manager is not None:
            return self.manager(server, state)
        return self.default(server, state)

    @asynccontextmanager
    async def default(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
        state["ready"] = True
        yield

    async def __call__(self, request: Request) -> Response:
        if request.method == "WAIT":
            await self.release.wait()
        return Response(200)


async def test_lifespan_must_return_an_async_context_manager() -> None:
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-2"):
        async with Driver(validate(LifespanApp(lambda server, state: None))):
            pass


async def test_app_called_before_startup() -> None:
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-3: the application was called before"):
        await Driver(validate(LifespanApp())).request("GET", "/")


async def test_app_called_after_shutdown() -> None:
    async with Driver(validate(LifespanApp())) as driver:
        pass
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-4"):
        await driver.request("GET", "/")


async def test_lifespan_needs_a_fresh_state_and_a_server_info() -> None:
    validated = validate(LifespanApp())
    assert isinstance(validated, HasLifespan)
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-3: .*not a new empty dict"):
        validated.lifespan(DRIVER_INFO, {"left": "over"})
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-3: .*not a ServerInfo"):
        validated.lifespan("server", {})  # type: ignore[arg-type]


async def test_lifespan_is_called_once_per_run() -> None:
    validated = validate(LifespanApp())
    async with Driver(validated):
        assert isinstance(validated, HasLifespan)
        with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-3: lifespan was called again"):
            validated.lifespan(DRIVER_INFO, {})
    async with Driver(validated) as driver:  # a second server run is fine
        assert (await driver.request("GET", "/")).status == 200


async def test_failed_startup_propagates_and_ends_the_run() -> None:
    @asynccontextmanager
    async def failing(server: ServerInfo, state: State) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield

    validated = validate(LifespanApp(failing))
    with pytest.raises(RuntimeError, match="database unreachable"):
        async with Driver(validated):
            pass
    assert isinstance(validated, HasLifespan)
    validated.lifespan(DRIVER_INFO, {})  # a new run may start after a failed one


async def test_lifespan_exited_in_another_task() -> None:
    exited: list[bool] = []

    @asynccontextmanager
    async def manager(server: ServerInfo, state: State) -> AsyncIterator[None]:
        yield
        exited.append(True)

    validated = validate(LifespanApp(manager))
    assert isinstance(validated, HasLifespan)
    context = validated.lifespan(DRIVER_INFO, {})
    await context.__aenter__()
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-5"):
        await asyncio.create_task(context.__aexit__(None, None, None))
    assert exited == [True]


async def test_lifespan_exited_with_a_request_running() -> None:
    app = LifespanApp()
    driver = Driver(validate(app))
    await driver.__aenter__()
    waiting = asyncio.create_task(driver.request("WAIT", "/"))
    await asyncio.sleep(0)
    with pytest.raises(SpecViolation, match=r"^PYRE-LIFE-4: lifespan shutdown began with 1 request"):
        await driver.__aexit__(None, None, None)
    app.release.set()
    await waiting


async def test_request_state_and_server_info_are_the_lifespans() -> None:
    async with Driver(validate(LifespanApp())) as driver:
        request = driver.build("GET", "/", state={"ready": True})
        with pytest.raises(SpecViolation, match=r"^PYRE-REQ-13"):
            await driver.send(request)
        request = driver.build("GET", "/", server_info=ServerInfo("pyre-spec-driver"))
        with pytest.raises(SpecViolation, match=r"^PYRE-REQ-15"):
            await driver.send(request)


# ---------------------------------------------------------------- properties and the document


names = st.from_regex(rb"\A[!#$%&'*+\-.^_`|~0-9a-z]{1,12}\Z")
values = st.from_regex(rb"\A[^\r\n\x00]{0,20}\Z")


@given(fields=st.lists(st.tuples(names, values), max_size=5), bad=st.sampled_from([b"\r", b"\n", b"\x00"]))
async def test_valid_fields_pass_and_one_bad_octet_fails(
    fields: list[tuple[bytes, bytes]], bad: bytes
) -> None:
    assert (await run(answer(headers=fields))).headers.raw == fields
    broken = [*fields, (b"x-bad", b"a" + bad + b"b")]
    await expect("PYRE-RESP-5", answer(headers=broken))


def test_every_id_the_validator_raises_is_in_the_spec() -> None:
    if not SPEC.exists():
        pytest.skip("docs/spec is not part of this checkout")
    spec = SPEC.read_text()
    defined = set(re.findall(r"\*\*\[(PYRE-[A-Z]+-\d+)\]\*\*", spec))
    indexed = set(re.findall(r"^\| \[(PYRE-[A-Z]+-\d+)\]\(#", spec, re.M))
    source = "".join(module.read_text() for module in sorted(VALIDATOR.glob("*.py")))
    raised = set(re.findall(r"\"(PYRE-[A-Z]+-\d+)\"", source))
    assert raised
    assert raised <= defined
    assert defined == indexed
