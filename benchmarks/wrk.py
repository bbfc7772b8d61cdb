"""Driving wrk: one Lua script per case, exact percentiles reported from ``done()``."""

from __future__ import annotations

import dataclasses
import json
import pathlib

from .processes import find_or_install, run_load_generator
from .samples import Sample
from .scenarios import Scenario
from .targets import HOST

RESULT_MARKER = "WRK-RESULT "
SOCKET_TIMEOUT = "5s"

# wrk calls done() once, after the run; percentiles are in microseconds.
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,'
    .. '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    "__MARKER__", summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
""".replace("__MARKER__", RESULT_MARKER)


def ensure_wrk() -> str:
    """wrk's path, installing it from the system packages when possible."""
    if found := find_or_install("wrk", "wrk"):
        return found
    raise SystemExit(
        "wrk is not installed and could not be installed here: install it (`apt-get install wrk`, "
        "`brew install wrk`, or build https://github.com/wg/wrk) and run again"
    )


def write_script(scenario: Scenario, directory: pathlib.Path) -> pathlib.Path:
    lines = [f'wrk.method = "{scenario.method}"', f'wrk.path = "{scenario.path}"']
    for name, value in scenario.request_headers():
        if name not in ("Host", "Content-Length"):  # wrk writes both itself
            lines.append(f'wrk.headers["{name}"] = "{value}"')
    if scenario.body:
        body_file = directory / f"{scenario.name}.body"
        body_file.write_bytes(scenario.body)
        lines += [f'local file = io.open("{body_file}", "rb")', "wrk.body = file:read('*a')", "file:close()"]
    if scenario.pipeline > 1:
        lines += [
            "init = function(args)",
            f"  local batch = {{}} for i = 1, {scenario.pipeline} do batch[i] = wrk.format() end",
            "  pipelined = table.concat(batch)",
            "end",
            "request = function() return pipelined end",
        ]
    script = directory / f"{scenario.name}.lua"
    script.write_text("\n".join(lines) + "\n" + REPORT_LUA)
    return script


def run(
    wrk: str,
    script: pathlib.Path,
    scenario: Scenario,
    port: int,
    seconds: float,
    core: int,
    tls: bool = False,
) -> Sample:
    scheme = "https" if tls else "http"
    command = [
        "taskset", "-c", str(core), wrk, "-t1", f"-c{scenario.connections}", f"-d{seconds:g}s",
        "--timeout", SOCKET_TIMEOUT, "--latency", "-s", str(script), f"{scheme}://{HOST}:{port}{scenario.path}",
    ]  # fmt: skip
    completed, wrk_cpu = run_load_generator(command, seconds)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            sample = parse(line.removeprefix(RESULT_MARKER))
            return dataclasses.replace(sample, load_cpu=wrk_cpu / sample.seconds if sample.seconds else 0.0)
    raise RuntimeError(
        f"wrk failed ({completed.returncode}): {(completed.stderr or completed.stdout).strip()}"
    )


def parse(line: str) -> Sample:
    raw = json.loads(line)
    return Sample(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        p999_ms=raw["p999_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        errors={name: count for name, count in raw["errors"].items() if count},
    )
