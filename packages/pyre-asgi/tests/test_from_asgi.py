"""from_asgi: raw ASGI applications served through pyre.spec.testing.Driver."""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from asgi_side import hello_app, http_only

from pyre.asgi import ASGIClientDisconnected, ASGIProtocolError, LifespanFailure, from_asgi
from pyre.spec import EXT_EARLY_HINTS, FileBody, FileTooShort, ServerInfo
from pyre.spec.testing import DRIVER_INFO, Driver, collect

Message = dict[str, Any]


async def read_body(receive: Any) -> tuple[bytes, list[Message]]:
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


async def start(send: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})


# -- the fast path ------------------------------------------------------------------------------


async def test_complete_response_without_waiting_is_bytes_and_needs_no_task() -> None:
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[Any]] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **options)
        created.append(task)
        return task

    app = from_asgi(hello_app)
    async with Driver(app) as driver:
        request = driver.build("GET", "/")
        loop.set_task_factory(counting_factory)
        try:
            response = await app(request)
        finally:
            loop.set_task_factory(None)
    assert created == []
    assert response.status == 200
    assert response.body == b"hello"
    assert list(response.headers) == [(b"content-type", b"text/plain")]


async def test_scope_carries_the_request() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["answer"] = 42
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope)
        await start(send)
        await send({"type": "http.response.body", "body": b""})

    async with Driver(from_asgi(app)) as driver:
        await driver.request(
            "GET",
            "/caf%C3%A9/a%2Fb?x=1&y=%20",
            headers=[(b"X-Custom", b"Value"), (b"accept", b"*/*")],
            root_path="/mount",
            scheme="https",
        )
        lifespan_state = driver.state
    scope = seen[0]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "https"
    # ASGI: path and raw_path include root_path ("PATH_INFO can be derived by stripping
    # root_path from path"); pyre-spec's path is what follows it.
    assert scope["path"] == "/mount/café/a/b"
    assert scope["raw_path"] == b"/mount/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == "/mount"
    assert [tuple(pair) for pair in scope["headers"]] == [
        (b"host", b"testserver"),
        (b"x-custom", b"Value"),
        (b"accept", b"*/*"),
    ]
    assert tuple(scope["client"]) == ("127.0.0.1", 50000)
    assert tuple(scope["server"]) == ("127.0.0.1", 8000)
    # ASGI: a shallow copy of the lifespan state per request.
    assert scope["state"] == {"answer": 42}
    assert scope["state"] is not lifespan_state


@pytest.mark.parametrize(
    ("info", "early_hints"),
    [(DRIVER_INFO, True), (ServerInfo(name="no-hints"), False)],
)
async def test_extensions_follow_the_server(info: ServerInfo, early_hints: bool) -> None:
    seen: list[dict[str, Any]] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["extensions"])
        await start(send)
        await send({"type": "http.response.body"})

    assert info.supports(EXT_EARLY_HINTS) is early_hints
    async with Driver(from_asgi(app), server_info=info) as driver:
        await driver.request("GET", "/")
    extensions = seen[0]
    assert {"http.response.trailers", "http.response.pathsend", "http.response.zerocopysend"} <= set(
        extensions
    )
    assert ("http.response.early_hint" in extensions) is early_hints


# -- request body -------------------------------------------------------------------------------


async def test_request_body_arrives_chunk_by_chunk() -> None:
    seen: list[list[Message]] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body, messages = await read_body(receive)
        seen.append(messages)
        await start(send)
        await send({"type": "http.response.body", "body": body})

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0)
            yield chunk

    async with Driver(from_asgi(app)) as driver:
        streamed = await driver.request("POST", "/", body=chunks())
        sized = await driver.request("POST", "/", body=b"all at once")
        await driver.request("GET", "/")
    assert streamed.body == b"one,two,three"
    assert [(m["body"], m["more_body"]) for m in seen[0]] == [
        (b"one,", True),
        (b"two,", True),
        (b"three", True),
        (b"", False),
    ]
    # With a declared length the last chunk says more_body=False itself.
    assert sized.body == b"all at once"
    assert [(m["body"], m["more_body"]) for m in seen[1]] == [(b"all at once", False)]
    assert [(m["body"], m["more_body"]) for m in seen[2]] == [(b"", False)]


# -- streaming responses ------------------------------------------------------------------------


@http_only
async def slow_stream(scope: Any, receive: Any, send: Any) -> None:
    await start(send, headers=[(b"content-type", b"text/plain")])
    for index in range(3):
        await asyncio.sleep(0.001)
        await send({"type": "http.response.body", "body": b"%d;" % index, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def test_app_that_waits_streams() -> None:
    async with Driver(from_asgi(slow_stream)) as driver:
        response = await driver.request("GET", "/")
    assert response.status == 200
    assert response.body == b"0;1;2;"
    assert response.response is not None
    assert not isinstance(response.response.body, bytes)


async def test_chunks_reach_the_server_as_they_are_sent() -> None:
    sent: list[int] = []
    release = asyncio.Event()

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        sent.append(1)
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await release.wait()
        sent.append(2)
        await send({"type": "http.response.body", "body": b"second"})

    async with Driver(from_asgi(app)) as driver:
        response = await from_asgi(app)(driver.build("GET", "/"))
        iterator = aiter(response.body)  # type: ignore[arg-type]
        # The first chunk is there while the app still waits for the second.
        assert await anext(iterator) == b"first"
        assert sent == [1]
        release.set()
        assert await anext(iterator) == b"second"
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)
    assert sent == [1, 2]


async def test_send_waits_for_the_server_beyond_the_high_water_mark() -> None:
    produced: list[int] = []
    chunk = b"x" * 40_000

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        for index in range(20):
            produced.append(index)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with Driver(from_asgi(app)) as driver:
        response = await from_asgi(app)(driver.build("GET", "/"))
        consumed = 0
        async for part in response.body:  # type: ignore[union-attr]
            consumed += len(part) // len(chunk)
            # The app is never more than a couple of chunks ahead of the server.
            assert len(produced) - consumed <= 2
    assert consumed == 20


async def test_send_from_another_task_reaches_the_server() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def producer() -> None:
            await start(send)
            for index in range(3):
                await asyncio.sleep(0.001)
                await send({"type": "http.response.body", "body": b"%d" % index, "more_body": True})
            await send({"type": "http.response.body", "body": b"!"})

        async with asyncio.TaskGroup() as group:
            group.create_task(producer())

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"012!"


async def test_waiting_requests_are_stepped_side_by_side() -> None:
    # Every request waits until all have arrived: serving them one at a time, or losing the
    # wake-up of one whose future another request's task completes, leaves them waiting.
    expected = 16
    arrived: list[int] = []
    everyone = asyncio.Event()

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        arrived.append(len(arrived))
        if len(arrived) == expected:
            everyone.set()
        try:
            async with asyncio.timeout(10):  # a guard against hanging, not a claim about speed
                await everyone.wait()
                await asyncio.sleep(0.001)
        except TimeoutError:
            await start(send, 503)
            await send({"type": "http.response.body", "body": b"alone"})
            return
        await start(send)
        await send({"type": "http.response.body", "body": b"together"})

    async with Driver(from_asgi(app)) as driver, asyncio.timeout(20):
        responses = await asyncio.gather(*(driver.request("GET", "/") for _ in range(expected)))
    assert [(response.status, response.body) for response in responses] == [(200, b"together")] * expected


async def test_work_after_the_response_runs_to_its_end() -> None:
    done: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send, headers=[(b"content-length", b"4")])
        await send({"type": "http.response.body", "body": b"done"})
        await asyncio.sleep(0.001)  # a background task, as Starlette runs them
        done.append("background")

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"done"
    assert done == ["background"]


async def test_anyio_style_cancel_scope_spanning_the_stream_stays_in_one_task() -> None:
    tasks: set[asyncio.Task[Any] | None] = set()

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tasks.add(asyncio.current_task())
        async with asyncio.timeout(10):
            await start(send)
            for index in range(3):
                await asyncio.sleep(0.001)
                tasks.add(asyncio.current_task())
                await send({"type": "http.response.body", "body": b"%d" % index, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"012"
    assert len(tasks) == 1


async def test_asyncio_timeout_inside_a_waiting_app_fires_and_is_caught() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"waiting;", "more_body": True})
        try:
            async with asyncio.timeout(0.001):
                await asyncio.sleep(3600)
        except TimeoutError:
            await send({"type": "http.response.body", "body": b"timed out"})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"waiting;timed out"


# -- extensions ---------------------------------------------------------------------------------


async def test_trailers() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.trailers" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await asyncio.sleep(0.001)
        await send({"type": "http.response.body", "body": b"!"})
        await send(
            {"type": "http.response.trailers", "headers": [(b"X-Checksum", b"abc")], "more_trailers": True}
        )
        await asyncio.sleep(0.001)
        await send({"type": "http.response.trailers", "headers": [(b"x-more", b"1")]})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"data!"
    assert response.trailers is not None
    assert list(response.trailers) == [("x-checksum", "abc"), ("x-more", "1")]


async def test_trailers_without_waiting() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.response is not None
    assert response.response.body == b"data"
    assert response.trailers is not None
    assert response.trailers.get("x-checksum") == "abc"


async def test_pathsend_becomes_a_file_body(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<h1>file</h1>")

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.pathsend" in scope["extensions"]
        await start(send, headers=[(b"content-type", b"text/html")])
        await send({"type": "http.response.pathsend", "path": str(path)})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.response is not None
    assert response.response.body == FileBody(path=str(path))
    assert response.body == b"<h1>file</h1>"


async def test_zerocopysend_becomes_a_file_region(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(100)))

    with path.open("rb") as file:

        @http_only
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await start(send)
            await send({"type": "http.response.zerocopysend", "file": file, "offset": 10, "count": 5})

        async with Driver(from_asgi(app)) as driver:
            response = await driver.request("GET", "/")
        # The server owns (and closed) its own descriptor; the app's file is still usable.
        assert file.read(3) == bytes([0, 1, 2])
    assert response.body == bytes(range(10, 15))
    assert response.response is not None
    assert isinstance(response.response.body, FileBody)


@pytest.fixture
def ten_bytes(tmp_path: pathlib.Path) -> Iterator[int]:
    """The app's descriptor of a file holding ``b"0123456789"``."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)  # still the app's: the bridge duplicated it


async def test_zerocopysend_between_body_messages(ten_bytes: int) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"<", "more_body": True})
        await send(
            {
                "type": "http.response.zerocopysend",
                "file": ten_bytes,
                "offset": 2,
                "count": 3,
                "more_body": True,
            }
        )
        await send({"type": "http.response.body", "body": b">"})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"<234>"


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, naming what is run in it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.calls: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(getattr(fn, "__name__", repr(fn)))
        return super().submit(fn, *args, **kwargs)


async def test_zerocopysend_between_body_messages_is_read_off_the_event_loop(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.bin"
    content = os.urandom(600_000)
    path.write_bytes(content)
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    fd = os.open(path, os.O_RDONLY)
    try:

        @http_only
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await start(send)
            await send({"type": "http.response.zerocopysend", "file": fd, "offset": 0, "more_body": True})
            await send({"type": "http.response.body", "body": b"."})

        async with Driver(from_asgi(app)) as driver:
            response = await driver.request("GET", "/")
        assert os.fstat(fd)  # the app's own descriptor stays open
    finally:
        os.close(fd)
    assert response.body == content + b"."
    assert executor.calls.count("pread") == 3  # in bounded chunks, none of them on the loop


@pytest.mark.parametrize("more_body", [True, False])
async def test_zerocopysend_past_the_end_of_the_file_is_an_error(ten_bytes: int, more_body: bool) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"<", "more_body": True})
        message = {"type": "http.response.zerocopysend", "file": ten_bytes, "offset": 8, "count": 5}
        await send({**message, "more_body": more_body})
        await send({"type": "http.response.body", "body": b">"})

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(FileTooShort):  # not "<89>" under a length that promised more
            await driver.request("GET", "/")


async def test_a_malformed_zerocopysend_is_a_protocol_error_and_leaks_no_descriptor(ten_bytes: int) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.zerocopysend", "file": ten_bytes, "offset": 0, "count": -1})

    before = sorted(os.listdir("/proc/self/fd"))
    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(ASGIProtocolError, match="zerocopysend"):
            await driver.request("GET", "/")
    assert sorted(os.listdir("/proc/self/fd")) == before


async def test_early_hint_becomes_a_103() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        links = [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]
        await send({"type": "http.response.early_hint", "links": links})
        await start(send)
        await send({"type": "http.response.body", "body": b"page"})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"page"
    [(status, headers)] = response.interim
    assert status == 103
    assert headers.get_all("link") == [
        "</style.css>; rel=preload; as=style",
        "</app.js>; rel=preload; as=script",
    ]


# -- disconnects --------------------------------------------------------------------------------


async def test_receive_after_the_response_returns_disconnect() -> None:
    seen: list[Message] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        await start(send)
        await send({"type": "http.response.body", "body": b"ok"})
        seen.append(await receive())

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"ok"
    assert seen == [{"type": "http.disconnect"}]


async def test_long_poll_sees_the_client_leave_and_send_raises_oserror() -> None:
    seen: list[object] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        seen.append(await receive())  # waits: the response has not been sent
        try:
            await start(send)
        except OSError as error:
            seen.append(error)
            raise

    async with Driver(from_asgi(app)) as driver:
        request = driver.build("GET", "/poll")
        handler = asyncio.ensure_future(from_asgi(app)(request))
        await asyncio.sleep(0.01)
        assert not handler.done()
        request.disconnect()
        with pytest.raises(ASGIClientDisconnected):
            await handler
    assert seen[0] == {"type": "http.disconnect"}
    assert isinstance(seen[1], ASGIClientDisconnected)


async def test_closing_a_stream_raises_in_a_waiting_send() -> None:
    outcome: list[object] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 70_000, "more_body": True})
        except OSError as error:
            outcome.append(error)
            raise

    async with Driver(from_asgi(app)) as driver:
        response = await from_asgi(app)(driver.build("GET", "/"))
        body = response.body
        assert await anext(aiter(body)) == b"x" * 70_000  # type: ignore[arg-type]
        await body.aclose()  # type: ignore[union-attr]
    assert len(outcome) == 1
    assert isinstance(outcome[0], ASGIClientDisconnected)


async def test_closing_a_stream_cancels_an_app_waiting_elsewhere() -> None:
    outcome: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"event", "more_body": True})
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        finally:
            outcome.append("cleaned up")

    async with Driver(from_asgi(app)) as driver:
        response = await from_asgi(app)(driver.build("GET", "/"))
        body = response.body
        assert await anext(aiter(body)) == b"event"  # type: ignore[arg-type]
        await body.aclose()  # type: ignore[union-attr]
    assert outcome == ["cancelled", "cleaned up"]


async def test_cancelling_the_server_task_cancels_the_app() -> None:
    outcome: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            outcome.append("cleaned up")

    async with Driver(from_asgi(app)) as driver:
        handler = asyncio.ensure_future(from_asgi(app)(driver.build("GET", "/")))
        await asyncio.sleep(0.01)
        handler.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handler
    assert outcome == ["cleaned up"]


# -- errors -------------------------------------------------------------------------------------


async def test_returning_without_a_response_is_a_protocol_error() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(ASGIProtocolError, match="without sending a response"):
            await driver.request("GET", "/")


async def test_returning_mid_body_is_a_protocol_error() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(ASGIProtocolError, match="without finishing"):
            await driver.request("GET", "/")


async def test_message_out_of_order_is_a_protocol_error() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.body", "body": b"no start"})

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(ASGIProtocolError, match=r"http\.response\.body"):
            await driver.request("GET", "/")


async def test_app_exception_propagates_to_the_server() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("bug")

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(KeyError):
            await driver.request("GET", "/")


async def test_messages_after_the_response_are_ignored() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"once"})
        await send({"type": "http.response.body", "body": b"twice"})

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"once"


# -- lifespan -----------------------------------------------------------------------------------


async def test_lifespan_startup_state_and_shutdown() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            scope["state"]["pool"] = "connected"
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await start(send)
        await send({"type": "http.response.body", "body": scope["state"]["pool"].encode()})

    async with Driver(from_asgi(app)) as driver:
        assert events == ["startup"]
        response = await driver.request("GET", "/")
        assert driver.state == {"pool": "connected"}
    assert response.body == b"connected"
    assert events == ["startup", "shutdown"]


async def test_failed_startup_raises_with_the_apps_message() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    with pytest.raises(LifespanFailure, match="database unreachable"):
        async with Driver(from_asgi(app)):
            pass


async def test_failed_shutdown_raises_with_the_apps_message() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    with pytest.raises(LifespanFailure, match="flush failed"):
        async with Driver(from_asgi(app)):
            pass


async def test_app_without_lifespan_support_is_served() -> None:
    async with Driver(from_asgi(hello_app)) as driver:  # asserts scope["type"] == "http"
        response = await driver.request("GET", "/")
    assert response.body == b"hello"


async def test_required_lifespan_fails_startup_for_an_app_without_it() -> None:
    with pytest.raises(LifespanFailure, match="does not support lifespan"):
        async with Driver(from_asgi(hello_app, require_lifespan=True)):
            pass


async def test_lifespan_from_a_collected_response_matches_collect() -> None:
    # collect() is how every server reads a response: it works on what from_asgi returns.
    async with Driver(from_asgi(slow_stream)) as driver:
        request = driver.build("GET", "/")
        response = await driver.app(request)
        collected = await collect(response, request)
    assert collected.body == b"0;1;2;"


async def test_closing_a_stream_is_quiet_about_the_apps_own_disconnect_error() -> None:
    class AppDisconnect(Exception):
        """What a framework raises for the OSError (Starlette's ClientDisconnect)."""

    outcome: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await start(send)
        try:
            await send({"type": "http.response.body", "body": b"x" * 70_000, "more_body": True})
        except OSError:
            outcome.append("converted")
            raise AppDisconnect from None

    async with Driver(from_asgi(app)) as driver:
        request = driver.build("GET", "/")
        response = await from_asgi(app)(request)
        # The client leaves; the server closes the stream unread.
        request.disconnect()
        await response.body.aclose()  # type: ignore[union-attr]
    assert outcome == ["converted"]
