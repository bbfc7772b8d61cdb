"""What is measured: one application served by one server.

Targets of the same ``family`` do the same work, so their requests/s compare
directly: ``raw`` is the hand-written app on each server's own interface; every
other family is one framework's app.  Each row's "x uvicorn" ratio divides by
the same family on uvicorn (:func:`baseline`); the HTTP/2 families, which uvicorn
cannot serve, divide by hypercorn.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

HOST = "127.0.0.1"
# Long enough that the memory case's idle connections outlive the measurement
# on every server (uvicorn's and hypercorn's default is 5 s).
KEEP_ALIVE_SECONDS = 120
COMPILED_PYTHON = "PYRE_BENCH_COMPILED_PYTHON"
"""The interpreter of a venv holding pyre-server and pyre-asgi compiled by mypyc (the bench nox
session builds it); the ``-compiled`` targets run on it, every other target on this one."""


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    server: str
    interface: str
    app: str
    family: str
    distributions: tuple[str, ...]
    """Distributions whose versions the report names."""
    tls: bool = False
    """Served over TLS with the certificate of :mod:`benchmarks.tls`; wrk connects with https."""
    scenarios: tuple[str, ...] | None = None
    """The only scenarios this target runs; ``None``: all of them."""
    workers: int = 1
    """Server processes.  One is pinned to the server core; more are not pinned at all,
    so that they and wrk share the machine's cores."""
    http: str = "1"
    """``2``: served over HTTP/2 only (h2c by prior knowledge, or h2 by ALPN over TLS); it runs
    the HTTP/2 scenarios, which the others do not."""
    compiled: bool = False
    """Served by the compiled build of pyre-server (and pyre-asgi): the interpreter of
    :data:`COMPILED_PYTHON`; ``None`` there makes the target unavailable."""

    @property
    def python(self) -> str | None:
        return os.environ.get(COMPILED_PYTHON) if self.compiled else sys.executable

    def command(self, port: int) -> list[str]:
        command = SERVER_COMMANDS[self.server](self, port)
        if self.tls:
            from .tls import server_flags

            command += server_flags(self.server)
        return command

    def runs(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios


def _pyre(target: Target, port: int) -> list[str]:
    return [
        str(target.python), "-m", "pyre.server", target.app,
        "--host", HOST, "--port", str(port),
        "--no-access-log", "--log-level", "warning",
        "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS), "--backlog", "4096",
        *_workers(target), *(["--http", "2"] if target.http == "2" else []),
    ]  # fmt: skip


def _uvicorn(target: Target, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", target.app,
        "--host", HOST, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
        "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS), "--backlog", "4096",
        *_workers(target),
    ]  # fmt: skip


def _workers(target: Target) -> list[str]:
    """pyre-server's and uvicorn's flag: without it, each runs one process and no supervisor."""
    return ["--workers", str(target.workers)] if target.workers > 1 else []


def _granian(target: Target, port: int) -> list[str]:
    return [
        sys.executable, "-m", "granian", target.app,
        "--interface", target.interface, "--host", HOST, "--port", str(port),
        "--workers", str(target.workers), "--http", target.http, "--no-ws", "--loop", "uvloop",
        "--log-level", "warning", "--no-access-log", "--backlog", "4096",
        # granian admits at most this many connections at once (default: the backlog)
        "--backpressure", "20000",
    ]  # fmt: skip


def _hypercorn(target: Target, port: int) -> list[str]:
    # Serves HTTP/2 without a flag: h2c by prior knowledge, h2 by ALPN over TLS.
    return [
        sys.executable, "-m", "hypercorn", target.app,
        "--bind", f"{HOST}:{port}", "--workers", "1", "--worker-class", "uvloop",
        "--log-level", "warning", "--keep-alive", str(KEEP_ALIVE_SECONDS), "--backlog", "4096",
    ]  # fmt: skip


SERVER_COMMANDS = {"pyre": _pyre, "uvicorn": _uvicorn, "granian": _granian, "hypercorn": _hypercorn}
SERVER_DISTRIBUTIONS = {
    "pyre": ("pyre-spec", "pyre-server"),
    "uvicorn": ("uvicorn", "uvloop", "httptools"),
    "granian": ("granian",),
    "hypercorn": ("hypercorn", "uvloop"),
}

# fmt: off
TARGETS: list[Target] = [
    Target(name, label, server, interface, f"benchmarks.apps.{module}:app", family,
           SERVER_DISTRIBUTIONS[server] + tuple(dists.split()))
    for name, label, server, interface, module, family, dists in [
        ("pyre", "pyre-spec app on pyre-server", "pyre", "pyre", "pyre_native", "raw", ""),
        ("pyre-asgi", "raw ASGI app on pyre-server (from_asgi)", "pyre", "asgi", "pyre_from_asgi", "raw",
         "pyre-asgi"),
        ("uvicorn", "raw ASGI app on uvicorn", "uvicorn", "asgi", "raw_asgi", "raw", ""),
        ("granian-rsgi", "raw RSGI app on granian", "granian", "rsgi", "raw_rsgi", "raw", ""),
        ("granian-asgi", "raw ASGI app on granian", "granian", "asgi", "raw_asgi", "raw", ""),
        ("hypercorn", "raw ASGI app on hypercorn", "hypercorn", "asgi", "raw_asgi", "raw", ""),
        ("pyre-framework", "pyre-framework on pyre-server", "pyre", "pyre", "pyre_framework_app",
         "pyre-framework", "pyre-framework pydantic orjson"),
        ("pyre-framework-uvicorn", "pyre-framework on uvicorn (to_asgi)", "uvicorn", "asgi",
         "pyre_framework_asgi", "pyre-framework", "pyre-framework pyre-asgi pydantic orjson"),
        ("starlette", "Starlette on uvicorn", "uvicorn", "asgi", "starlette_app", "starlette", "starlette"),
        ("starlette-pyre", "Starlette on pyre-server (from_asgi)", "pyre", "asgi", "starlette_on_pyre",
         "starlette", "starlette pyre-asgi"),
        ("starlette-granian", "Starlette on granian", "granian", "asgi", "starlette_app", "starlette",
         "starlette"),
        ("fastapi", "FastAPI on uvicorn", "uvicorn", "asgi", "fastapi_app", "fastapi", "fastapi pydantic"),
        ("fastapi-pyre", "FastAPI on pyre-server (from_asgi)", "pyre", "asgi", "fastapi_on_pyre", "fastapi",
         "fastapi pydantic pyre-asgi"),
        ("fastapi-granian", "FastAPI on granian", "granian", "asgi", "fastapi_app", "fastapi",
         "fastapi pydantic"),
        ("litestar", "Litestar on uvicorn", "uvicorn", "asgi", "litestar_app", "litestar", "litestar"),
        ("litestar-pyre", "Litestar on pyre-server (from_asgi)", "pyre", "asgi", "litestar_on_pyre",
         "litestar", "litestar pyre-asgi"),
        ("blacksheep", "BlackSheep on uvicorn", "uvicorn", "asgi", "blacksheep_app", "blacksheep",
         "blacksheep"),
        ("blacksheep-pyre", "BlackSheep on pyre-server (from_asgi)", "pyre", "asgi", "blacksheep_on_pyre",
         "blacksheep", "blacksheep pyre-asgi"),
        ("falcon", "Falcon (ASGI) on uvicorn", "uvicorn", "asgi", "falcon_app", "falcon", "falcon"),
    ]
]
# The compiled build (PYRE_SERVER_COMPILE=1, PYRE_ASGI_COMPILE=1) beside the pure-Python one that
# a source install gives by default, in the same families: the same apps, the same ratios.
COMPILED = ("pyre", "pyre-asgi", "pyre-framework", "starlette-pyre", "fastapi-pyre")
TARGETS += [
    replace(target, name=f"{target.name}-compiled", label=f"{target.label}, compiled (mypyc)", compiled=True)
    for target in TARGETS
    if target.name in COMPILED
]
# TLS: plaintext over HTTPS, pyre-server against uvicorn with the same certificate.
TLS_FAMILY = "tls"
TARGETS += [
    Target(name, label, server, interface, f"benchmarks.apps.{module}:app", TLS_FAMILY,
           (*SERVER_DISTRIBUTIONS[server], "trustme"), tls=True, scenarios=("plaintext",))
    for name, label, server, interface, module in [
        ("pyre-tls", "pyre-spec app on pyre-server over TLS", "pyre", "pyre", "pyre_native"),
        ("uvicorn-tls", "raw ASGI app on uvicorn over TLS", "uvicorn", "asgi", "raw_asgi"),
    ]
]
# Workers: two processes on this machine's cores, next to one pinned to a core.
WORKERS_FAMILY = "workers"
TARGETS += [
    Target(f"{name}-w2", f"{label}, 2 workers", server, interface, f"benchmarks.apps.{module}:app",
           WORKERS_FAMILY, SERVER_DISTRIBUTIONS[server], scenarios=("plaintext", "json", "new-connection"),
           workers=2)
    for name, label, server, interface, module in [
        ("pyre", "pyre-spec app on pyre-server", "pyre", "pyre", "pyre_native"),
        ("uvicorn", "raw ASGI app on uvicorn", "uvicorn", "asgi", "raw_asgi"),
        ("granian", "raw RSGI app on granian", "granian", "rsgi", "raw_rsgi"),
    ]
]
# HTTP/2 (h2load): each server over h2c and over TLS, the same apps as the raw family.
H2C_FAMILY = "h2c"
H2_TLS_FAMILY = "h2-tls"
TARGETS += [
    Target(f"{name}-{family}", f"{label} over {'TLS' if tls else 'h2c'}", server, interface,
           f"benchmarks.apps.{module}:app", family,
           (*SERVER_DISTRIBUTIONS[server], *dists.split(), *(("trustme",) if tls else ())), tls=tls,
           scenarios=("h2-streams-1", "h2-streams-10", "h2-streams-100"), http="2")
    for family, tls in ((H2C_FAMILY, False), (H2_TLS_FAMILY, True))
    for name, label, server, interface, module, dists in [
        ("pyre", "pyre-spec app on pyre-server", "pyre", "pyre", "pyre_native", ""),
        ("pyre-asgi", "raw ASGI app on pyre-server (from_asgi)", "pyre", "asgi", "pyre_from_asgi",
         "pyre-asgi"),
        ("hypercorn", "raw ASGI app on hypercorn", "hypercorn", "asgi", "raw_asgi", ""),
        ("granian-rsgi", "raw RSGI app on granian", "granian", "rsgi", "raw_rsgi", ""),
        ("granian-asgi", "raw ASGI app on granian", "granian", "asgi", "raw_asgi", ""),
    ]
]
# fmt: on

TARGET_NAMES = [target.name for target in TARGETS]
FRAMEWORK_BASELINE = "starlette"
"""Every framework row is also divided by Starlette on uvicorn."""


BASELINE_SERVERS = {H2C_FAMILY: "hypercorn", H2_TLS_FAMILY: "hypercorn"}
"""What each family's ratio divides by when it is not uvicorn (which has no HTTP/2)."""


def baseline_server(family: str) -> str:
    return BASELINE_SERVERS.get(family, "uvicorn")


def baseline(target: Target) -> str:
    """The same family on uvicorn (hypercorn for HTTP/2): what "x uvicorn" divides by."""
    server = baseline_server(target.family)
    return next(t.name for t in TARGETS if t.family == target.family and t.server == server)
