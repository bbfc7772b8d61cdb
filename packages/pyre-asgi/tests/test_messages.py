"""from_asgi reading the app's messages: every shape the ASGI spec allows, and the broken ones.

The ASGI spec types response headers as "an iterable of ``[name, value]``
two-item iterables" of byte strings; apps send lists of lists, tuples,
``bytearray`` and ``memoryview`` values, and bytes-like bodies.  Everything
reaches the server as ``(bytes, bytes)`` pairs with lowercase names and
``bytes`` bodies; anything else is an ``ASGIProtocolError`` naming the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from typing import Any

import pytest
from asgi_side import http_only

from pyre.asgi import ASGIProtocolError, from_asgi
from pyre.spec import FileBody, RequestBodyTooLarge
from pyre.spec.testing import Driver

Message = dict[str, Any]
TEXT = [(b"content-type", b"text/plain")]


def answering(*messages: Message, wait: bool = False) -> Any:
    """An app that sends ``messages``; with ``wait``, it waits a loop turn before each."""

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            if wait:
                await asyncio.sleep(0)
            await send(message)

    return app


def start(status: Any = 200, headers: Any = TEXT) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(content: Any = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": content, "more_body": more}


def generated_headers() -> Iterator[tuple[bytes, bytes]]:
    yield b"content-type", b"text/plain"


@pytest.mark.parametrize("wait", [False, True], ids=["complete", "streamed"])
@pytest.mark.parametrize(
    "headers",
    [
        [[b"content-type", b"text/plain"], [b"x-shape", b"list"]],
        ((b"content-type", b"text/plain"), (b"x-shape", b"list")),
        [(bytearray(b"content-type"), memoryview(b"text/plain")), [b"x-shape", bytearray(b"list")]],
        [(b"Content-Type", b"text/plain"), (b"X-Shape", b"list")],
        {(b"content-type", b"text/plain"), (b"x-shape", b"list")},
    ],
    ids=["lists", "tuples", "bytes-like", "upper-case", "a set"],
)
async def test_header_shapes_become_lowercase_byte_pairs(headers: Any, wait: bool) -> None:
    async with Driver(from_asgi(answering(start(headers=headers), body(b"x"), wait=wait))) as driver:
        response = await driver.request("GET", "/")
    assert response.response is not None
    pairs = list(response.response.headers)
    assert sorted(pairs) == [(b"content-type", b"text/plain"), (b"x-shape", b"list")]
    assert all(type(pair) is tuple and type(pair[0]) is bytes and type(pair[1]) is bytes for pair in pairs)


async def test_headers_from_a_generator() -> None:
    async with Driver(from_asgi(answering(start(headers=generated_headers()), body(b"x")))) as driver:
        response = await driver.request("GET", "/")
    assert response.response is not None
    assert list(response.response.headers) == [(b"content-type", b"text/plain")]


@pytest.mark.parametrize("wait", [False, True], ids=["complete", "streamed"])
@pytest.mark.parametrize(
    "parts",
    [
        [memoryview(b"one memoryview")],
        [bytearray(b"one bytearray")],
        [memoryview(b"a "), bytearray(b"b "), b"c"],
        [memoryview(bytearray(b"writable"))],
    ],
    ids=["memoryview", "bytearray", "mixed", "writable-memoryview"],
)
async def test_bytes_like_bodies_in_every_position(parts: list[Any], wait: bool) -> None:
    messages = [body(part, more=index < len(parts) - 1) for index, part in enumerate(parts)]
    app = from_asgi(answering(start(), *messages, wait=wait))
    async with Driver(app) as driver:
        request = driver.build("GET", "/")
        response = await app(request)
        content = response.body
        assert not isinstance(content, FileBody)
        # bytes as for a pyre-spec app's complete body (the server's fast path), or a stream of bytes.
        chunks = [content] if isinstance(content, bytes) else [chunk async for chunk in content]
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == b"".join(bytes(part) for part in parts)
    assert wait or len(chunks) == 1


async def test_a_reused_buffer_is_copied_when_sent() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        buffer = bytearray(b"first ")
        await send(start())
        await send(body(buffer, more=True))
        buffer[:] = b"second"  # the app reuses its buffer, as a file reader does
        await asyncio.sleep(0)
        await send(body(buffer))

    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"first second"


async def test_int_enum_status_is_a_plain_int() -> None:
    async with Driver(from_asgi(answering(start(HTTPStatus.CREATED), body(b"made")))) as driver:
        request = driver.build("GET", "/")
        response = await driver.app(request)
    assert response.status == 201
    assert type(response.status) is int


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (start("200"), "status '200' is not a final status code"),
        (start(600), "status 600 is not a final status code"),
        (start(103), "status 103 is not a final status code"),
        (start(True), "status True is not a final status code"),
        ({"type": "http.response.start"}, "status None is not a final status code"),
        (start(headers=[(b"a", b"b", b"c")]), r"header \(b'a', b'b', b'c'\) is not a \[name, value\] pair"),
        (start(headers=[("content-type", "text/plain")]), "header .'content-type', 'text/plain'. is not"),
        (start(headers=None), "headers None are not an iterable"),
        (start(headers=[(b"x-count", 5)]), r"header \(b'x-count', 5\) is not"),
        (start(headers=[b"x-a: v"]), "header b'x-a: v' is not"),
        (start(headers=[b"ab"]), "header b'ab' is not"),  # two bytes unpack into two ints
        ({"type": "http.response.bogus"}, "unexpected ASGI message 'http.response.bogus'"),
    ],
)
async def test_malformed_start_is_a_protocol_error_naming_it(message: Message, complaint: str) -> None:
    async with Driver(from_asgi(answering(message, body(b"x")))) as driver:
        with pytest.raises(ASGIProtocolError, match=complaint):
            await driver.request("GET", "/")


@pytest.mark.parametrize("content", ["text", 5, None, [1, 2]])
async def test_body_not_bytes_like_is_a_protocol_error(content: Any) -> None:
    async with Driver(from_asgi(answering(start(), body(content)))) as driver:
        with pytest.raises(
            ASGIProtocolError, match=r"'http\.response\.body' message: body .* is not a byte string"
        ):
            await driver.request("GET", "/")


async def test_trailers_in_every_shape() -> None:
    app = answering(
        {**start(), "trailers": True},
        body(b"x"),
        {"type": "http.response.trailers", "headers": [[b"X-Checksum", bytearray(b"abc")]]},
    )
    async with Driver(from_asgi(app)) as driver:
        response = await driver.request("GET", "/")
    assert response.trailers is not None
    assert list(response.trailers.raw) == [(b"x-checksum", b"abc")]


async def test_messages_after_the_response_are_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    app = answering(start(), body(b"once"), body(b"twice"))
    with caplog.at_level(logging.ERROR, logger="pyre.asgi"):
        async with Driver(from_asgi(app)) as driver:
            response = await driver.request("GET", "/")
    assert response.body == b"once"
    assert "sent 'http.response.body' after its response was complete; ignored" in caplog.text


# -- an error after the response ----------------------------------------------------------------


@pytest.mark.parametrize("wait", [False, True], ids=["complete", "streamed"])
async def test_error_after_a_complete_response_keeps_it(wait: bool, caplog: pytest.LogCaptureFixture) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        # Starlette's ServerErrorMiddleware: send the error page, then re-raise.
        await send(start(500))
        if wait:
            await send(body(b"our own ", more=True))
            await asyncio.sleep(0)
        await send(body(b"error page"))
        if wait:
            await asyncio.sleep(0)
        raise RuntimeError("the bug")

    with caplog.at_level(logging.ERROR, logger="pyre.asgi"):
        async with Driver(from_asgi(app)) as driver:
            response = await driver.request("GET", "/")
    assert (response.status, response.body) == (500, b"our own error page" if wait else b"error page")
    assert "Exception in ASGI application after its response was complete" in caplog.text
    assert "RuntimeError: the bug" in caplog.text


@pytest.mark.parametrize("wait", [False, True], ids=["before-start", "mid-body"])
async def test_error_before_the_response_is_complete_reaches_the_server(wait: bool) -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"part", more=True))
        if wait:
            await asyncio.sleep(0)
        raise RuntimeError("the bug")

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(RuntimeError, match="the bug"):
            await driver.request("GET", "/")


# -- HEAD: no content goes out, the app is not cancelled -----------------------------------------


async def test_head_lets_the_app_run_to_its_end() -> None:
    events: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        try:
            for _ in range(3):
                await asyncio.sleep(0)
                await send(body(b"x" * 40_000, more=True))  # past HIGH_WATER: send would wait
            await send(body())
            await asyncio.sleep(0)
        except BaseException as error:
            events.append(type(error).__name__)
            raise
        events.append("finished")

    bridge = from_asgi(app)
    async with Driver(bridge) as driver:
        response = await bridge(driver.build("HEAD", "/"))
        # A server sends no content for HEAD: it closes the stream without reading it.
        await response.body.aclose()  # type: ignore[union-attr]
    assert events == ["finished"]


async def test_head_with_trailers_runs_the_app_to_its_end() -> None:
    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({**start(), "trailers": True})
        for _ in range(3):
            await asyncio.sleep(0)
            await send(body(b"x" * 40_000, more=True))
        await send(body())
        await send({"type": "http.response.trailers", "headers": [(b"x-done", b"yes")]})

    bridge = from_asgi(app)
    async with Driver(bridge) as driver:
        response = await bridge(driver.build("HEAD", "/"))
        assert response.trailers is not None
        trailers = await asyncio.wait_for(response.trailers(), 10)
        await response.body.aclose()  # type: ignore[union-attr]
    assert list(trailers) == [(b"x-done", b"yes")]


async def test_a_real_disconnect_still_ends_the_app() -> None:
    events: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(body(b"x", more=True))
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    bridge = from_asgi(app)
    async with Driver(bridge) as driver:
        request = driver.build("HEAD", "/")
        response = await bridge(request)
        request.disconnect()
        await response.body.aclose()  # type: ignore[union-attr]
    assert events == ["cancelled"]


@pytest.mark.parametrize(("status", "outcome"), [(204, "finished"), (200, "cancelled")])
async def test_a_stream_closed_unread_runs_on_only_without_content(status: int, outcome: str) -> None:
    # A 204 has no content either; a 200 closed unread means the server gave up on it
    # (it refused the head, say): then the app is told, not left running.
    events: list[str] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(status))
        await send(body(b"", more=True))
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        await send(body())
        events.append("finished")

    bridge = from_asgi(app)
    async with Driver(bridge) as driver:
        response = await bridge(driver.build("GET", "/"))
        await response.body.aclose()  # type: ignore[union-attr]
    assert events == [outcome]


# -- the body limit --------------------------------------------------------------------------------


async def over_the_limit() -> AsyncIterator[bytes]:
    """What a server's request body does when a chunked upload passes its limit."""
    yield b"x" * 100
    raise RequestBodyTooLarge(100)


@pytest.mark.parametrize("catches", [False, True], ids=["app-raises", "app-answers"])
async def test_body_over_the_limit_is_the_servers_413(catches: bool) -> None:
    seen: list[Message] = []

    @http_only
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect":
                break
        if not catches:
            raise OSError("the client went away")
        try:  # what FastAPI does: answer 400 "There was an error parsing the body"
            await send(start(400))
        except OSError:
            return

    async with Driver(from_asgi(app)) as driver:
        with pytest.raises(RequestBodyTooLarge):
            await driver.request("POST", "/", body=over_the_limit())
    assert [message["type"] for message in seen] == ["http.request", "http.disconnect"]
