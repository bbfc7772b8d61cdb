"""The built-in middleware on a real App, through the framework's test client."""

from __future__ import annotations

import gzip
from typing import Any

from pyre import framework
from pyre.framework import App
from pyre.framework.middleware.cors import CORSMiddleware
from pyre.framework.middleware.gzip import GZipMiddleware
from pyre.framework.middleware.requestid import RequestIDMiddleware, current_request_id
from pyre.framework.middleware.trustedhost import TrustedHostMiddleware
from pyre.framework.testing import AsyncTestClient

SITE = "https://app.example"


class Pages(framework.Blueprint):
    @framework.endpoint("/big", methods=["GET"])
    async def big(self) -> str:
        return "x" * 2000

    @framework.endpoint("/id", methods=["GET"])
    async def request_id(self) -> dict[str, str | None]:
        return {"id": current_request_id()}


def make_app() -> App[Any]:
    app = App(
        middleware=[
            TrustedHostMiddleware(["testserver", "*.example"]),
            RequestIDMiddleware(),
            CORSMiddleware(allow_origins=[SITE], allow_methods=["GET", "PUT"]),
            GZipMiddleware(),
        ]
    )
    app.add_blueprint(Pages())
    return app


async def test_preflight_is_answered_before_routing() -> None:
    async with AsyncTestClient(make_app()) as client:
        response = await client.options(
            "/big", headers={"Origin": SITE, "Access-Control-Request-Method": "PUT"}
        )
    # /big has no PUT and no OPTIONS endpoint: without CORS this would be routed.
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert "x-request-id" in response.headers


async def test_middleware_stack_on_a_normal_request() -> None:
    async with AsyncTestClient(make_app()) as client:
        response = await client.get("/big", headers={"Origin": SITE, "Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(response.content) == b"x" * 2000
    assert response.headers["access-control-allow-origin"] == SITE
    assert set(response.headers.get_all("vary")) == {"Origin", "Accept-Encoding"}


async def test_request_id_reaches_the_handler() -> None:
    async with AsyncTestClient(make_app()) as client:
        response = await client.get("/id", headers={"X-Request-ID": "trace-1"})
    assert response.json() == {"id": "trace-1"}
    assert response.headers["x-request-id"] == "trace-1"


async def test_untrusted_host_never_reaches_routing() -> None:
    async with AsyncTestClient(make_app(), base_url="http://evil.test") as client:
        response = await client.get("/big")
    assert response.status_code == 400
