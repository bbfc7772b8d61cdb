from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from pyre.spec import FileBody, FileTooShort, Request, Response, ServerInfo, State
from pyre.spec.testing import Driver


async def echo(request: Request) -> Response:
    body = await request.body.read()
    return Response(200, [(b"content-type", b"text/plain")], request.method.encode() + b" " + body)


async def test_driver_collects_bytes_response() -> None:
    async with Driver(echo) as driver:
        response = await driver.request("POST", "/x", body=b"hi")
    assert response.status == 200
    assert response.body == b"POST hi"
    assert response.headers["content-type"] == "text/plain"


async def test_driver_streams_and_trailers() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    async def trailers() -> list[tuple[bytes, bytes]]:
        return [(b"x-checksum", b"1")]

    async def app(request: Request) -> Response:
        return Response(200, [], chunks(), trailers=trailers)

    async with Driver(app) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"ab"
    assert response.trailers is not None
    assert response.trailers["x-checksum"] == "1"


async def test_driver_reads_file_region(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")

    async def app(request: Request) -> Response:
        return Response(200, [], FileBody(path=path, offset=2, count=3))

    async with Driver(app) as driver:
        response = await driver.request("GET", "/")
    assert response.body == b"234"


async def test_driver_refuses_a_file_region_beyond_the_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # As a server does (PYRE-RESP-18): no silently shorter body.
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")

    async def app(request: Request) -> Response:
        return Response(200, [], FileBody(path=path, offset=8, count=3))

    async with Driver(app) as driver:
        with pytest.raises(FileTooShort):
            await driver.request("GET", "/")


async def test_driver_runs_lifespan_and_shares_state() -> None:
    events: list[str] = []

    class App:
        @asynccontextmanager
        async def lifespan(self, server: ServerInfo, state: State) -> AsyncIterator[None]:
            state["db"] = "connected"
            events.append("startup")
            yield
            events.append("shutdown")

        async def __call__(self, request: Request) -> Response:
            return Response(200, [], request.state["db"].encode())

    async with Driver(App()) as driver:
        response = await driver.request("GET", "/")
        assert events == ["startup"]
    assert response.body == b"connected"
    assert events == ["startup", "shutdown"]
