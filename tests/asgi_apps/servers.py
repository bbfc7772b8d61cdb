"""Starting real HTTP servers as subprocesses on 127.0.0.1 and talking to them with http.client."""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

TESTS_DIR = pathlib.Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def command(server: str, target: str, port: int) -> list[str]:
    """The command line serving the ASGI (or, for pyre, any) application ``target`` on ``port``."""
    python = sys.executable
    if server == "uvicorn":
        return [python, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
                "--lifespan", "auto", "--log-level", "warning"]  # fmt: skip
    if server == "hypercorn":
        return [python, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if server == "granian":
        return [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--log-level", "warning", target]  # fmt: skip
    if server == "gunicorn":  # gunicorn's arbiter with pyre-server's worker class
        return [python, "-m", "gunicorn", "-k", "pyre.server.gunicorn.PyreWorker", "-w", "2",
                "-b", f"127.0.0.1:{port}", "--log-level", "warning", target]  # fmt: skip
    if server == "pyre":
        return [python, "-m", "pyre.server", target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]  # fmt: skip
    raise ValueError(server)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


@dataclass
class Running:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: pathlib.Path

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            chunked = body is not None and not isinstance(body, bytes)
            connection.request(method, target, body=body, headers=headers or {}, encode_chunked=chunked)
            response = connection.getresponse()
            content = response.read()
            pairs = [(name.lower(), value) for name, value in response.getheaders()]
            return Reply(response.status, pairs, content)
        finally:
            connection.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def serve(
    server: str,
    target: str,
    log_dir: pathlib.Path,
    options: Sequence[str] = (),
    cwd: pathlib.Path = TESTS_DIR,
) -> Iterator[Running]:
    """Run ``server`` on ``target`` (with more command-line ``options``, in ``cwd``) until the block ends.

    Waits until it answers HTTP first.
    """
    port = free_port()
    log = log_dir / f"{server}-{port}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command(server, target, port), *options],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=cwd,
        )
    running = Running(server, port, process, log)
    try:
        wait_until_serving(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(running: Running) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(
                f"{running.name} exited with {running.process.returncode}:\n{running.output()}"
            )
        try:
            running.request("GET", "/__ready__")
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise RuntimeError(f"{running.name} did not answer within {STARTUP_SECONDS}s:\n{running.output()}")
