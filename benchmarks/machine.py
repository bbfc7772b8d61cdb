"""Where and with what a run happened: the part of a report that makes it reproducible."""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from .processes import ROOT

CPU_FIELDS = {"model name": "model", "vendor_id": "vendor", "cpu family": "family", "model": "model_number",
              "stepping": "stepping", "cpu MHz": "mhz", "cache size": "cache"}  # fmt: skip
"""The lines of /proc/cpuinfo's first processor worth recording: a VM may name its CPU just
"AMD EPYC", and family, model and stepping then tell one generation from another."""


def cpu_details() -> dict[str, str]:
    details = {}
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
            name, _, value = line.partition(":")
            if (key := CPU_FIELDS.get(name.strip())) is not None:
                details[key] = value.strip()
    except OSError:
        pass
    details.setdefault("model", platform.processor() or "unknown")
    return details


def cpu_model(details: dict[str, str]) -> str:
    """One line: the model's name, and its family/model/stepping and cache where known."""
    extra = [
        f"family {details['family']} model {details['model_number']} stepping {details['stepping']}"
        if {"family", "model_number", "stepping"} <= details.keys()
        else "",
        f"{details['cache']} cache" if "cache" in details else "",
    ]
    return ", ".join([details["model"], *filter(None, extra)])


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def busy_fractions(cores: list[int], seconds: float = 1.0) -> dict[str, float]:
    """How busy each core is with other work, sampled from /proc/stat over ``seconds``."""

    def sample() -> dict[str, tuple[int, int]]:
        times = {}
        for line in pathlib.Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                ticks = [int(field) for field in fields]
                times[name] = (sum(ticks), ticks[3] + ticks[4])  # idle + iowait
        return times

    before = sample()
    time.sleep(seconds)
    after = sample()
    busy = {}
    for name, (total, idle) in after.items():
        elapsed = max(1, total - before[name][0])
        busy[name] = 1 - (idle - before[name][1]) / elapsed
    return busy


def wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first_line = (completed.stdout or completed.stderr or "unknown").splitlines()[0]
    return first_line.partition(" Copyright")[0].strip()


def git_commit() -> str:
    completed = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    if completed.returncode:
        return "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "packages"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return completed.stdout.strip() + (" (packages/ modified)" if dirty else "")


def versions(distributions: list[str]) -> dict[str, str]:
    found = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def h2load_version(h2load: str | None) -> str:
    if h2load is None:
        return "not installed"
    completed = subprocess.run([h2load, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout or "unknown").strip().splitlines()[0]


def describe(wrk: str, h2load: str | None = None) -> dict[str, Any]:
    details = cpu_details()
    return {
        "cpu": cpu_model(details),
        "cpu_details": details,
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "wrk": wrk_version(wrk),
        "h2load": h2load_version(h2load),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def command_line() -> str:
    """The command as the user typed it: through nox or directly."""
    if os.environ.get("NOX_CURRENT_SESSION") == "bench":
        return shlex.join(["nox", "-s", "bench", "--", *sys.argv[1:]]) if sys.argv[1:] else "nox -s bench"
    return shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
