"""The conformance suite's WebSocket cases (PYRE-WS-*) on a server that offers sessions: uvicorn
through ``pyre.asgi.to_asgi``.  Neither pyre-server nor the kit's reference server lists
``pyre.websocket``, so these cases skip in their suites; here they run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from asgi_apps.in_process import on_uvicorn

import pyre.spec
from pyre.spec.testing.conformance import Case, Context, Limits, all_cases

CASES = [case for case in all_cases() if case.assertion.startswith("PYRE-WS-")]


@asynccontextmanager
async def uvicorn_factory(app: pyre.spec.Application) -> AsyncIterator[tuple[str, int]]:
    async with on_uvicorn(app) as port:
        yield ("127.0.0.1", port)


@pytest.fixture(scope="module")
def context() -> Iterator[Context]:
    context = Context(uvicorn_factory, Limits(), timeout=5.0)
    yield context
    context.close()


def test_the_websocket_ids_have_cases() -> None:
    assert {case.assertion for case in CASES} >= {"PYRE-WS-1", "PYRE-WS-2", "PYRE-WS-3", "PYRE-WS-5"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_websocket_case_on_uvicorn(case: Case, context: Context) -> None:
    case.check(context)
