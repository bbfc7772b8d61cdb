"""Server processes: started pinned to a core, each in its own process group, always stopped.

Every server the suite starts is registered in :data:`RUNNING` until it is
stopped; :func:`stop_all` (called from ``finally`` in the CLI, on Ctrl-C and
SIGTERM too) stops each group by its id, politely first.
"""

from __future__ import annotations

import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import time

from .targets import HOST, Target

ROOT = pathlib.Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

RUNNING: list[ServerProcess] = []


class Unavailable(Exception):
    """The target cannot run here; the message says why."""


def raise_file_limit() -> None:
    """Let the process open as many files as the hard limit allows (1024 connections and more)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    paths = [str(ROOT), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def preflight(target: Target) -> None:
    """Import the app in a throwaway interpreter, to report a missing package in one line."""
    module, _, attribute = target.app.partition(":")
    probe = f"import importlib; getattr(importlib.import_module({module!r}), {attribute!r})"
    if target.tls:  # the certificate is made with trustme (benchmarks.tls)
        probe += "; import trustme"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_environment(),
        timeout=60,
        check=False,
    )
    if completed.returncode:
        raise Unavailable(last_line(completed.stderr) or f"importing {target.app} failed")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ServerProcess:
    def __init__(self, target: Target, core: int, log_directory: pathlib.Path) -> None:
        self.target = target
        self.port = free_port()
        self.log_path = log_directory / f"{target.name}.log"
        with self.log_path.open("ab") as log:
            # Several workers are not pinned: they share the machine's cores (with wrk).
            pinned = ["taskset", "-c", str(core)] if target.workers == 1 else []
            self.process = subprocess.Popen(
                [*pinned, *target.command(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=child_environment(),
                start_new_session=True,
                preexec_fn=raise_file_limit,
            )
        RUNNING.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"exited with {self.process.returncode}: {self.log_tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
            except OSError:
                time.sleep(0.1)
            else:
                return
        raise Unavailable(f"not listening after {START_TIMEOUT_SECONDS:g} s: {self.log_tail()}")

    def log_tail(self) -> str:
        return last_line(self.log_path.read_text(errors="replace")) or "no output"

    def stop(self) -> None:
        if self in RUNNING:
            RUNNING.remove(self)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS / 2)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers a server forked (granian, hypercorn) share its process group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(target: Target, core: int, log_directory: pathlib.Path) -> ServerProcess:
    server = ServerProcess(target, core, log_directory)
    try:
        server.wait_until_listening()
    except BaseException:
        server.stop()
        raise
    return server


def stop_all() -> None:
    for server in list(RUNNING):
        server.stop()


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (granian and hypercorn fork workers)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = list(pathlib.Path(f"/proc/{current}/task").iterdir())
            pending += [int(child) for task in tasks for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        tree.append(current)
    return tree


def tree_rss_kib(pid: int) -> int:
    total = 0
    for member in process_tree(pid):
        try:
            status = pathlib.Path(f"/proc/{member}/status").read_text()
        except FileNotFoundError:
            continue
        # Zombies have no VmRSS line.
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by a process and its descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            stat = pathlib.Path(f"/proc/{member}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS
