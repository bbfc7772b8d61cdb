"""One run of the suite: every selected case on every selected target, interleaved.

All servers run side by side (idle ones cost nothing), and every repetition
goes round all targets in a rotated order before the next one starts, so that
drift in the machine's speed during a run falls on every target alike.
"""

from __future__ import annotations

import dataclasses
import pathlib
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import checks, h2load, memory, processes, wrk
from .processes import ServerProcess, Unavailable
from .samples import PERCENTILES, Sample
from .scenarios import MEMORY, PLAINTEXT, Scenario
from .targets import Target


@dataclass(frozen=True)
class Settings:
    mode: str
    warmup_seconds: float
    seconds: float
    repetitions: int
    server_core: int
    load_core: int
    memory_connections: int = memory.CONNECTIONS

    @classmethod
    def for_mode(cls, quick: bool, server_core: int, load_core: int) -> Settings:
        # Whole seconds: wrk's -d takes no fraction.
        if quick:
            return cls("quick", 1.0, 1.0, 2, server_core, load_core)
        return cls("full", 2.0, 5.0, 3, server_core, load_core)


@dataclass
class Case:
    """One scenario on one target: samples, or the reason there are none."""

    status: str = "ok"
    """``ok``; ``wrong`` (a wrong answer before timing); ``failed`` (errors under load); ``unavailable``."""
    reason: str = ""
    samples: list[Sample] = field(default_factory=list)

    def fail(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason

    def summary(self, with_latency: bool) -> dict[str, Any]:
        summary: dict[str, Any] = {"status": self.status}
        if self.reason:
            summary["reason"] = self.reason
        if self.samples:
            summary["rps"] = spread([sample.rps for sample in self.samples])
            if with_latency:
                for name in PERCENTILES:
                    summary[name] = spread([getattr(sample, name) for sample in self.samples])
            summary["cpu_us"] = spread([sample.cpu_us_per_request for sample in self.samples])
            summary["server_cpu"] = spread([sample.server_cpu for sample in self.samples])
            summary["load_cpu"] = spread([sample.load_cpu for sample in self.samples])
            summary["requests"] = sum(sample.requests for sample in self.samples)
            errors: dict[str, int] = {}
            for sample in self.samples:
                for name, count in sample.errors.items():
                    errors[name] = errors.get(name, 0) + count
            summary["errors"] = errors
        return summary


def spread(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "samples": values}


Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Run:
    def __init__(
        self,
        settings: Settings,
        targets: list[Target],
        work: pathlib.Path,
        wrk_path: str,
        h2load_path: str | None = None,
    ) -> None:
        self.settings = settings
        self.targets = targets
        self.work = work
        self.wrk = wrk_path
        self.h2load = h2load_path
        self.unavailable: dict[str, str] = {}
        self.servers: dict[str, ServerProcess] = {}
        self.log: Log = log_to_stderr

    def start_servers(self) -> None:
        for target in self.targets:
            try:
                processes.preflight(target)
                self.servers[target.name] = processes.start(target, self.settings.server_core, self.work)
            except Unavailable as error:
                self.unavailable[target.name] = str(error)
                self.log(f"  {target.name}: unavailable: {error}")
            else:
                self.log(f"  {target.name}: listening on port {self.servers[target.name].port}")

    def stop_servers(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def live(self, target: Target) -> ServerProcess | None:
        """The target's server, or None (noting why) if it is unavailable or has died."""
        server = self.servers.get(target.name)
        if server is not None and server.process.poll() is not None:
            self.unavailable[target.name] = f"server exited during the run: {server.log_tail()}"
            del self.servers[target.name]
            return None
        return server

    def run_scenario(self, scenario: Scenario) -> dict[str, Case]:
        targets = [t for t in self.targets if t.runs(scenario.name) and t.http == scenario.http]
        cases = {target.name: Case() for target in targets}
        script = wrk.write_script(scenario, self.work) if scenario.http == "1" else None
        timed: list[Target] = []
        for target in targets:
            case = cases[target.name]
            server = self.live(target)
            if server is None:
                case.fail("unavailable", self.unavailable[target.name])
                continue
            if scenario.http == "2" and self.h2load is None:
                case.fail("unavailable", "h2load is not installed (Debian: apt-get install nghttp2-client)")
                continue
            try:
                if scenario.http == "2":
                    checks.check_http2(scenario, server.port, target.tls)
                else:
                    checks.check(scenario, server.port, target.tls)
            except checks.WrongAnswer as error:
                case.fail("wrong", str(error))
            except (OSError, ValueError) as error:
                case.fail("wrong", f"{type(error).__name__}: {error}")
            if case.status != "ok":
                self.log(f"  {scenario.name} / {target.name}: WRONG: {case.reason}")
                continue
            timed.append(target)
        if self.settings.warmup_seconds:
            for target in timed:
                self.measure(scenario, script, target, cases[target.name], self.settings.warmup_seconds)
        for repetition in range(self.settings.repetitions):
            turn = repetition % len(timed) if timed else 0
            for target in timed[turn:] + timed[:turn]:
                case = cases[target.name]
                if case.status == "ok":
                    sample = self.measure(scenario, script, target, case, self.settings.seconds)
                    if sample is not None:
                        case.samples.append(sample)
        for target in timed:
            case = cases[target.name]
            if case.status == "ok":
                rps = statistics.median(sample.rps for sample in case.samples)
                cpu = statistics.median(sample.cpu_us_per_request for sample in case.samples)
                self.log(f"  {scenario.name} / {target.name}: {rps:,.0f} req/s, {cpu:.1f} CPU µs/request")
        return cases

    def measure(
        self, scenario: Scenario, script: pathlib.Path | None, target: Target, case: Case, seconds: float
    ) -> Sample | None:
        """One timed run; ``script`` is wrk's, None for an HTTP/2 case (h2load)."""
        server = self.live(target)
        if server is None:
            case.fail("failed", self.unavailable[target.name])
            return None
        # The server's whole process group (workers included), read around the load
        # generator's run; connections are made and closed within it too.
        cpu_before = processes.group_cpu_seconds(server.pid)
        try:
            if script is None:
                assert self.h2load is not None, "run_scenario times HTTP/2 cases only with h2load"
                sample = h2load.run(
                    self.h2load,
                    scenario,
                    server.port,
                    seconds,
                    self.settings.load_core,
                    target.tls,
                    self.work,
                )
            else:
                sample = wrk.run(
                    self.wrk, script, scenario, server.port, seconds, self.settings.load_core, target.tls
                )
        except (RuntimeError, OSError) as error:
            case.fail("failed", str(error))
            return None
        cpu_seconds = processes.group_cpu_seconds(server.pid) - cpu_before
        sample = dataclasses.replace(sample, server_cpu_seconds=cpu_seconds)
        if sample.requests == 0 or sample.errors.get("status"):
            bad = sample.errors.get("status", 0)
            case.fail("failed", f"{bad} of {sample.requests} responses were not 2xx/3xx under load")
            return None
        if self.live(target) is None:
            case.fail("failed", self.unavailable[target.name])
            return None
        return sample

    def run_memory(self) -> dict[str, dict[str, Any]]:
        """Each target freshly started, so that its idle RSS is comparable."""
        results: dict[str, dict[str, Any]] = {}
        for target in self.targets:
            if not target.runs(MEMORY):
                continue
            if target.name in self.unavailable:
                results[target.name] = {"status": "unavailable", "reason": self.unavailable[target.name]}
                continue
            server = None
            try:
                processes.preflight(target)
                server = processes.start(target, self.settings.server_core, self.work)
                checks.check(PLAINTEXT, server.port)
                measured = memory.measure(server, self.settings.load_core, self.settings.memory_connections)
            except Unavailable as error:
                results[target.name] = {"status": "unavailable", "reason": str(error)}
                self.log(f"  memory / {target.name}: unavailable: {error}")
                continue
            except (checks.WrongAnswer, RuntimeError, OSError) as error:
                results[target.name] = {"status": "failed", "reason": str(error)}
                self.log(f"  memory / {target.name}: failed: {error}")
                continue
            finally:
                if server is not None:
                    server.stop()
            results[target.name] = {
                "status": "ok",
                "connections": measured.connections,
                "still_open": measured.still_open,
                "idle_mib": measured.idle_kib / 1024,
                "loaded_mib": measured.loaded_kib / 1024,
                "per_connection_kib": measured.per_connection_kib,
            }
            self.log(
                f"  memory / {target.name}: {measured.loaded_kib / 1024:.1f} MiB with "
                f"{measured.still_open}/{measured.connections} connections open"
            )
        return results
