"""One timed run of a load generator against one server: what wrk and h2load both report."""

from __future__ import annotations

from dataclasses import dataclass

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p999_ms": 99.9}
"""The latency percentiles every sample carries, by the name the report gives them."""


@dataclass(frozen=True)
class Sample:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: dict[str, int]
    server_cpu_seconds: float = 0.0
    """User + system CPU time of the server's whole process group while the load ran."""
    load_cpu: float = 0.0
    """CPU time the load generator used per second of load: near 1.0 means it, not the
    server, set the pace."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu(self) -> float:
        """The server's CPU time per second of load: near 1.0 means it had its core to itself."""
        return self.server_cpu_seconds / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return cpu_us_per_request(self.server_cpu_seconds, self.requests)


def cpu_us_per_request(cpu_seconds: float, requests: int) -> float:
    """Server CPU microseconds per request: the cost of a request whatever else the machine ran."""
    return cpu_seconds * 1e6 / requests if requests else 0.0
