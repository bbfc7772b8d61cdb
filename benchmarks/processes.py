"""Server processes: started pinned to a core, each in its own process group, always stopped.

Every server the suite starts is registered in :data:`RUNNING` until it is
stopped; :func:`stop_all` (called from ``finally`` in the CLI, on Ctrl-C and
SIGTERM too) stops each group by its id, politely first.
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

from .targets import COMPILED_PYTHON, HOST, Target

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
    if target.http == "2":  # the answer checks' HTTP/2 client (benchmarks.checks)
        probe += "; import httpx, h2"
    if target.compiled:  # the extension modules, not the .py files beside them
        probe += "; import pyre.server._core as m; assert m.__file__.endswith(('.so', '.pyd')), m.__file__"
    if target.python is None:
        raise Unavailable(f"no compiled build: {COMPILED_PYTHON} is not set (nox -s bench sets it)")
    completed = subprocess.run(
        [target.python, "-c", probe],
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


def process_group(pgid: int) -> list[int]:
    """Every live process of a process group: a server and the workers it forked.

    Each server is started in a session of its own, so its group id is its pid and
    every worker it forks (granian and hypercorn always do) inherits it.  Found by
    scanning ``/proc``: ``/proc/PID/task/TID/children`` is not in every kernel.
    """
    members = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields((entry / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError):  # exited while the scan ran
            continue
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(entry.name))
    return members


def stat_fields(stat: str) -> list[str]:
    """``/proc/PID/stat``'s fields after the command name (which may hold spaces and parentheses)."""
    return stat.rpartition(")")[2].split()


def group_rss_kib(pgid: int) -> int:
    total = 0
    for member in process_group(pgid):
        try:
            status = pathlib.Path(f"/proc/{member}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # Zombies have no VmRSS line.
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User and system CPU time used so far by a process group, threads and reaped children included.

    A live member's own time is in its utime and stime; once a member exits and its
    parent reaps it, the kernel adds its time to the parent's cutime and cstime, so
    summing all four over the live members counts every worker exactly once.
    """
    ticks = 0
    for member in process_group(pgid):
        try:
            fields = stat_fields(pathlib.Path(f"/proc/{member}/stat").read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += sum(int(field) for field in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / CLOCK_TICKS


def run_load_generator(command: list[str], seconds: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run wrk or h2load for ``seconds`` to the end: what it printed, and the CPU time it used."""
    before = children_cpu_seconds()
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
        preexec_fn=raise_file_limit,
    )
    return completed, children_cpu_seconds() - before


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children: each load generator's run, once waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def find_or_install(command: str, debian_package: str) -> str | None:
    """The command's path, installing its Debian package first when it is missing and this
    process may (root, apt-get); None if it still cannot be found."""
    if found := shutil.which(command):
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{command} is missing: installing {debian_package} with apt-get", file=sys.stderr)
        install = ["apt-get", "install", "-y", "-qq", debian_package]
        if subprocess.run(install, stdout=subprocess.DEVNULL, check=False).returncode:
            subprocess.run(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL, check=False)
            subprocess.run(install, stdout=subprocess.DEVNULL, check=False)
    return shutil.which(command)
