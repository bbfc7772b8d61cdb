"""A real gunicorn arbiter running ``pyre.server.gunicorn.PyreWorker``, for the tests."""

from __future__ import annotations

import http.client
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gunicorn.config import KNOWN_SETTINGS

BOOT_TIMEOUT = 20.0
# Recent gunicorn opens a control socket under $HOME by default: parallel test runs would share it.
_NO_CONTROL_SOCKET = (
    ["--no-control-socket"]
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)
    else []
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (gunicorn's workers)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def until(condition: object, timeout: float = BOOT_TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    port: int
    log: pathlib.Path

    def workers(self) -> set[int]:
        return children(self.process.pid)

    def get(self, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
        """One request on a new connection: (status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path, headers={"connection": "close"})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(
    app_dir: pathlib.Path, app: str, *options: str, workers: int = 2, tls: bool = False
) -> Iterator[Gunicorn]:
    """gunicorn serving ``app`` from ``app_dir`` on a free loopback port, until its workers
    answer (accept a connection, with ``tls``)."""
    port = free_port()
    log = app_dir / f"gunicorn-{port}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "pyre.server.gunicorn.PyreWorker",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(app_dir),
        *_NO_CONTROL_SOCKET,
        *options,
        app,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=app_dir)
    server = Gunicorn(process, port, log)
    try:
        answers = _accepts if tls else _answers
        until(lambda: answers(server) and len(server.workers()) == workers, what="gunicorn to boot")
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(BOOT_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(server: Gunicorn) -> bool:
    _check_running(server)
    try:
        return server.get("/", timeout=2.0)[0] == 200
    except OSError:
        return False


def _accepts(server: Gunicorn) -> bool:
    _check_running(server)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2.0).close()
    except OSError:
        return False
    return "Listening on" in server.output()


def _check_running(server: Gunicorn) -> None:
    if server.process.poll() is not None:
        raise AssertionError(f"gunicorn exited:\n{server.output()}")
