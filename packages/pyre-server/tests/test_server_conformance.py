"""The pyre-spec conformance suite and wire corpus, run against pyre-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pyre.server import Config, Server
from pyre.spec import Application
from pyre.spec.testing.conformance import Limits, conformance_tests

CONFIG = Config(
    port=0,
    access_log=False,
    limit_request_line=8192,
    limit_header_size=65536,
    limit_header_count=100,
    limit_body_size=1024 * 1024,
    timeout_drain=2.0,
)
LIMITS = Limits(
    max_target=CONFIG.limit_request_line,
    max_header_bytes=CONFIG.limit_header_size,
    max_header_count=CONFIG.limit_header_count,
    max_body=CONFIG.limit_body_size,
)


@asynccontextmanager
async def start(app: Application) -> AsyncIterator[tuple[str, int]]:
    async with Server(app, CONFIG) as server:
        yield ("127.0.0.1", server.port)


# llhttp (httptools) limits, in content details where re-parsing is not possible:
EXPECTED_FAILURES = {
    "PYRE-WIRE-7[chunk-extension-bws]": (
        "llhttp refuses whitespace around '=' in a chunk extension; the request gets 400 (never misframed)"
    ),
}

TestConformance = conformance_tests(start, limits=LIMITS, expected_failures=EXPECTED_FAILURES, timeout=5.0)
