"""examples/deploy/: the health app on a real pyre-server, and the deployment files agreeing with it.

The nginx file runs under a real nginx in packages/pyre-server/tests/test_server_nginx.py; the
Dockerfile and the Kubernetes manifest cannot run here (no container engine), so their pyre
command lines are parsed by pyre-server's own parser and their timings checked against each other.
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
from typing import Any

import httpx
import pytest

from examples.deploy import health
from pyre.framework import App
from pyre.server import Config, Server
from pyre.server._cli import build_parser, parse

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "examples" / "deploy"


async def get(app: App[Any], *paths: str) -> list[httpx.Response]:
    async with Server(app, Config(port=0, access_log=False)) as server, httpx.AsyncClient() as client:
        return [await client.get(f"http://127.0.0.1:{server.port}{path}") for path in paths]


async def test_live_and_ready_once_started() -> None:
    live, ready = await get(health.create_app(), "/livez", "/readyz")
    assert (live.status_code, live.text) == (200, "ok")
    assert (ready.status_code, ready.text) == (200, "ready")
    assert ready.headers["cache-control"] == "no-store"


async def test_not_ready_while_a_dependency_is_down() -> None:
    class DatabaseDown(health.Health):
        async def dependencies_ok(self) -> bool:
            return False

    app = App()
    app.add_blueprint(DatabaseDown())
    live, ready = await get(app, "/livez", "/readyz")
    assert live.status_code == 200  # a dependency's outage restarts nothing
    assert ready.status_code == 503


def pyre_arguments(command: list[str]) -> list[str]:
    """What follows ``pyre serve`` (the name, or a path ending in it)."""
    assert pathlib.PurePath(command[0]).name == "pyre", command
    assert command[1] == "serve", command
    return command[2:]


def test_dockerfile_command() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M)[1])  # type: ignore[index]
    _, config = parse(pyre_arguments(command), {})
    assert (config.host, config.port) == ("0.0.0.0", 8000)


def test_kubernetes_probes_and_timings_agree() -> None:
    text = (DEPLOY / "kubernetes.yaml").read_text()
    command = json.loads(re.search(r"^\s+args: (\[.*\])$", text, re.M)[1])  # type: ignore[index]
    _, config = parse(pyre_arguments(command), {})
    paths = re.findall(r"path: (\S+)", text)
    assert paths == ["/readyz", "/livez"]
    pre_stop = int(re.search(r'command: \["sleep", "(\d+)"\]', text)[1])  # type: ignore[index]
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", text)[1])  # type: ignore[index]
    # Kubernetes counts the grace period from the start of preStop: the sleep, then the drain.
    assert grace > pre_stop + config.timeout_drain
    allowed = re.search(r'PYRE_FORWARDED_ALLOW_IPS\n\s+value: "([^"]+)"', text)[1]  # type: ignore[index]
    assert Config(forwarded_allow_ips=allowed).forwarded_allow_ips == allowed


def test_systemd_units_agree() -> None:
    service = (DEPLOY / "pyre.service").read_text()
    socket_unit = (DEPLOY / "pyre.socket").read_text()
    assert "ListenStream=127.0.0.1:8000" in socket_unit
    command = shlex.split(re.search(r"^ExecStart=(.*)$", service, re.M)[1])  # type: ignore[index]
    arguments = pyre_arguments(command)
    if "--workers" in arguments and "--workers" not in build_parser().format_help():
        pytest.skip("pyre serve has no --workers yet")
    _, config = parse(arguments, {})
    assert config.fd is None  # pyre-server finds the socket through LISTEN_FDS, not a flag
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", service, re.M)[1])  # type: ignore[index]
    assert stop > config.timeout_drain
