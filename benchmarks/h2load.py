"""Driving h2load (nghttp2): the HTTP/2 cases, over h2c by prior knowledge or TLS with ALPN.

h2load prints totals but no percentiles, so each run also writes its per-request
log (``--log-file``: start time, status, microseconds to the end of the response)
and the percentiles are computed exactly from it.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re

from .processes import find_or_install, run_load_generator
from .samples import PERCENTILES, Sample
from .scenarios import Scenario
from .targets import HOST

PROTOCOLS = ("h2", "h2c")
"""What h2load's ``Application protocol:`` line must say: anything else is not HTTP/2."""
# "finished in" also counts stopping the clients; h2load's req/s divides by the main duration alone.
FINISHED = re.compile(r"^finished in [\d.]+\w+, ([\d.]+) req/s,", re.MULTILINE)
REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, \d+ started, (?P<done>\d+) done, (?P<succeeded>\d+) succeeded, "
    r"(?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout",
    re.MULTILINE,
)
STATUS_CODES = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)
PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.MULTILINE)


class H2loadError(RuntimeError):
    """h2load did not measure what the case asks (no HTTP/2, no requests, or no summary)."""


def find_h2load() -> str | None:
    """h2load's path, installing Debian's nghttp2-client when possible; None if it cannot be had."""
    return find_or_install("h2load", "nghttp2-client")


def run(
    h2load: str,
    scenario: Scenario,
    port: int,
    seconds: float,
    core: int,
    tls: bool,
    directory: pathlib.Path,
) -> Sample:
    scheme = "https" if tls else "http"  # http:// is h2c with prior knowledge, https:// negotiates h2
    log_file = directory / f"{scenario.name}.h2load.tsv"
    command = [
        "taskset", "-c", str(core), h2load, "-t1", f"-c{scenario.connections}", f"-m{scenario.streams}",
        f"-D{round(seconds * 1000)}ms", "--log-file", str(log_file), f"{scheme}://{HOST}:{port}{scenario.path}",
    ]  # fmt: skip
    completed, load_cpu = run_load_generator(command, seconds)
    if completed.returncode:
        raise H2loadError(f"h2load failed ({completed.returncode}): {completed.stderr.strip()[-300:]}")
    try:
        log = log_file.read_text()
    finally:
        log_file.unlink(missing_ok=True)
    sample = parse(completed.stdout, log)
    return dataclasses.replace(sample, load_cpu=load_cpu / sample.seconds if sample.seconds else 0.0)


def parse(output: str, log: str) -> Sample:
    """A sample from h2load's summary (``output``) and its per-request log (``log``)."""
    finished = FINISHED.search(output)
    requests = REQUESTS.search(output)
    status_codes = STATUS_CODES.search(output)
    if not (finished and requests and status_codes):
        raise H2loadError(f"no summary in h2load's output: {output.strip()[-300:]!r}")
    protocol = PROTOCOL.search(output)
    if protocol is None or protocol.group(1) not in PROTOCOLS:
        negotiated = protocol.group(1) if protocol else "none: no connection was made"
        raise H2loadError(f"h2load did not speak HTTP/2 (application protocol: {negotiated})")
    counts = {name: int(value) for name, value in requests.groupdict().items()}
    if not counts["done"]:
        raise H2loadError("h2load completed no request")
    client_errors, server_errors = int(status_codes.group(3)), int(status_codes.group(4))
    errors = {name: counts[name] for name in ("errored", "timeout") if counts[name]}
    if bad := client_errors + server_errors:  # counted as wrk counts them: a 4xx or 5xx
        errors["status"] = bad
    times_ms = sorted(
        int(duration_us) / 1e3
        for start, status, duration_us in (line.split("\t") for line in log.splitlines() if line)
        if status.startswith("2")
    )
    if not times_ms:
        raise H2loadError(f"no successful request: {bad} of {counts['done']} responses were 4xx or 5xx")
    return Sample(
        requests=counts["succeeded"],
        seconds=counts["done"] / float(finished.group(1)),
        **{name: percentile(times_ms, rank) for name, rank in PERCENTILES.items()},
        max_ms=times_ms[-1],
        errors=errors,
    )


def percentile(ordered: list[float], rank: float) -> float:
    """The nearest-rank percentile of values sorted in ascending order (the rank rounded first:
    99.9 % of 41,000 values is the 40,959th, not the 40,960th that float error makes it)."""
    position = math.ceil(round(len(ordered) * rank / 100, 6))
    return ordered[min(max(position, 1), len(ordered)) - 1]
