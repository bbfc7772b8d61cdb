"""The pyre-spec server conformance suite.

An implementation runs it from pytest with a factory that starts its server on
a loopback port with a given application and yields ``(host, port)``::

    from contextlib import asynccontextmanager
    from pyre.spec.testing.conformance import Limits, conformance_tests

    @asynccontextmanager
    async def start(app):
        server = await my_server.start(app, host="127.0.0.1", port=0)
        try:
            yield server.address
        finally:
            await server.close()

    TestConformance = conformance_tests(
        start,
        limits=Limits(max_body=10 * 1024 * 1024),
        expected_failures={"PYRE-WIRE-4[leading-crlf]": "parser rejects it"},
    )

The factory may return an async context manager (run on an event loop the
suite keeps in a background thread) or a sync one (for a subprocess); entering
it must raise if the server cannot start.  Each case is one test with the id
``ASSERTION[name]``; at the end of the session a table of outcomes per
assertion ID and level is printed.  Only the pytest integration imports pytest.

Cases come from two places: checks run against the canonical apps of
``pyre.spec.testing.conformance.apps``, and the wire-level HTTP/1.1 corpus in
``corpus/*.toml`` (see ``_wire``).  ``docs/spec/conformance.md`` is the guide.
"""

from ._cases import Case as Case
from ._cases import Context as Context
from ._cases import Limits as Limits
from ._cases import ServerFactory as ServerFactory
from ._client import ConnectionClosed as ConnectionClosed
from ._client import ProtocolViolation as ProtocolViolation
from ._client import WireClient as WireClient
from ._client import WireResponse as WireResponse
from ._report import Results as Results
from ._suite import all_cases as all_cases
from ._suite import conformance_tests as conformance_tests

__all__ = [
    "Case",
    "ConnectionClosed",
    "Context",
    "Limits",
    "ProtocolViolation",
    "Results",
    "ServerFactory",
    "WireClient",
    "WireResponse",
    "all_cases",
    "conformance_tests",
]
