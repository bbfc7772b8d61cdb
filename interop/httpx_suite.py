"""pytest plugin: httpx's own live-server tests, with its ASGI test app on pyre-server.

httpx's ``tests/conftest.py`` serves its ``app`` on uvicorn through a session fixture
named ``server`` whose ``url`` the tests request. This plugin swaps that fixture for the
same ``app`` on the server named by ``INTEROP_SERVER`` (``pyre``: pyre-server through
pyre-asgi; ``uvicorn``: for comparison, run as httpx's conftest runs it) and deselects the
tests that do not use it (they test httpx alone). Nothing else in the suite changes.
``EXPECTED`` lists what fails on any live server but httpx's own, ``EXPECTED_ON_PYRE`` the
differences between uvicorn and pyre that are not defects.

Run through ``python -m interop httpx``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from interop._expected import apply_expected
from interop._live import LiveServer

SERVER = os.environ.get("INTEROP_SERVER", "pyre")

# Tests that fail on every live server but httpx's own (uvicorn on port 8000, h11, asyncio).
PORT_8000 = (
    "compares output naming port 8000, where httpx's conftest puts uvicorn; the live server uses a free port"
)
EXPECTED: dict[str, str] = {
    "tests/test_main.py::test_verbose": PORT_8000,
    "tests/test_main.py::test_auth": PORT_8000,
    "tests/test_utils.py::test_logging_request": PORT_8000,
    "tests/test_utils.py::test_logging_redirect_chain": PORT_8000,
    "tests/test_timeouts.py::test_write_timeout[trio]": (
        "under trio 0.35 httpx 0.28.1 leaves its request-body generator unfinished after the write "
        "timeout, and the suite turns the ResourceWarning into an error (uvicorn too)"
    ),
}

# Tests that fail on pyre and pass on uvicorn, where pyre is right.
UVICORN_HEAD = (
    "compares the CLI's print-out of uvicorn's exact response head: `server: uvicorn` and its "
    "header order (and chunked framing of an empty 301, which pyre sends with Content-Length: 0)"
)
EXPECTED_ON_PYRE: dict[str, str] = {
    "tests/test_main.py::test_get": UVICORN_HEAD,
    "tests/test_main.py::test_json": UVICORN_HEAD,
    "tests/test_main.py::test_binary": UVICORN_HEAD,
    "tests/test_main.py::test_redirects": UVICORN_HEAD,
    "tests/test_main.py::test_follow_redirects": UVICORN_HEAD,
    "tests/test_main.py::test_post": UVICORN_HEAD,
}

# Tests that fail on pyre because of an open defect: xfail(strict=False) until the fix
# lands, then removed from here.
AWAITING_FIX_ON_PYRE: dict[str, str] = {}


class _LiveURL:
    """What httpx's tests read from their ``server`` fixture: its ``url``."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = httpx.URL(url + "/")


def _live_server_fixture(conftest: ModuleType) -> Any:
    @pytest.fixture(scope="session", name="server")
    def server() -> Iterator[_LiveURL]:
        # uvicorn as httpx's conftest runs it: asyncio, and h11 (httpx's CI has no httptools).
        uvicorn_options = {"loop": "asyncio", "http": "h11"}
        with LiveServer(conftest.app, SERVER, lifespan=False, uvicorn_options=uvicorn_options) as live:
            yield _LiveURL(live.url)

    return server


@pytest.hookimpl(tryfirst=True)
def pytest_plugin_registered(plugin: object) -> None:
    # Runs before pytest reads the conftest's fixtures, so only the live one is seen.
    if isinstance(plugin, ModuleType) and hasattr(plugin, "serve_in_thread"):
        plugin.server = _live_server_fixture(plugin)  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = [item for item in items if "server" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in live])
    items[:] = live
    if SERVER == "pyre":
        apply_expected(items, EXPECTED | EXPECTED_ON_PYRE, AWAITING_FIX_ON_PYRE)
    else:
        apply_expected(items, EXPECTED, {})
