"""How ``python -m pyre.server`` picks the interface: pyre-asgi's detector; a broken pyre-asgi said so."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import websockets.exceptions
import websockets.sync.client
from asgi_apps.servers import TESTS_DIR, serve

PYTHONPATH = os.environ.get("PYTHONPATH", "")


def test_asgi2_class_app_is_served_as_asgi(tmp_path: pathlib.Path) -> None:
    # The CLI once had its own detector, which took this class for a pyre-spec app.
    with serve("pyre", "asgi_apps.asgi2_app:App", tmp_path) as running:
        reply = running.request("GET", "/hello")
    assert (reply.status, reply.body) == (200, b"ASGI 2 app at /hello")


@pytest.mark.parametrize("interface", ["auto", "asgi"])
def test_broken_pyre_asgi_is_reported_as_broken(tmp_path: pathlib.Path, interface: str) -> None:
    # A pyre.asgi that is there but cannot be imported, found before the real one.
    broken = tmp_path / "pyre" / "asgi"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("import pyre_asgi_dependency_that_is_missing\n")
    result = subprocess.run(
        [sys.executable, "-m", "pyre.server", "asgi_apps.raw:app", "--port", "0", "--interface", interface],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS_DIR), PYTHONPATH])},
        cwd=TESTS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "pyre-asgi is installed but cannot be imported" in result.stderr
    assert "pyre_asgi_dependency_that_is_missing" in result.stderr
    assert "pip install pyre-asgi" not in result.stderr


def test_lifespan_on_requires_it_of_an_asgi_app(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyre.server", "asgi_apps.http_only:app", "--port", "0", "--lifespan", "on"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), PYTHONPATH])},
        cwd=TESTS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "lifespan startup failed: LifespanFailure: the ASGI application does not support" in result.stderr
    with serve("pyre", "asgi_apps.http_only:app", tmp_path) as running:  # auto: served without lifespan
        reply = running.request("GET", "/")
    assert (reply.status, reply.body) == (200, b"asgi")


def test_ws_max_size_reaches_the_bridge(tmp_path: pathlib.Path) -> None:
    options = ["--ws-max-size", "10"]
    with serve("pyre", "asgi_apps.websocket_app:app", tmp_path, options) as running:
        with websockets.sync.client.connect(f"ws://127.0.0.1:{running.port}/ws") as connection:
            connection.send("0123456789")
            assert connection.recv(timeout=10) == "0123456789".upper()
            connection.send("0123456789a")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                connection.recv(timeout=10)
        assert connection.close_code == 1009
