"""The conformance suite, run against the h11 reference server."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reference_server import serve

from pyre.spec import Application
from pyre.spec.testing.conformance import Limits, conformance_tests

LIMITS = Limits()


@asynccontextmanager
async def start(app: Application) -> AsyncIterator[tuple[str, int]]:
    async with serve(app, LIMITS) as address:
        yield address


# Where h11 decides and this small server does not second-guess it.
EXPECTED_FAILURES = {
    "PYRE-WIRE-7[chunk-extension-bws]": "h11's chunk-header pattern allows no whitespace before ';'",
    "PYRE-BODY-5[chunk-bare-lf]": "h11 waits for a CRLF that never comes instead of rejecting a bare LF",
    "PYRE-BODY-5[chunk-extension-control-char]": "h11 accepts any bytes after ';' in a chunk header",
}

TestReferenceServer = conformance_tests(
    start, limits=LIMITS, expected_failures=EXPECTED_FAILURES, timeout=3.0
)
