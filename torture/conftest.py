"""The torture suite: attacks on real server processes over loopback, and the report they produce.

``pytest torture`` (``nox -s torture``) is the bounded quick mode CI runs; ``--soak`` multiplies the
loads (about 15 minutes on two cores); ``--write-report`` writes the table to ``docs/reliability.md``
instead of a temporary file.
"""

from __future__ import annotations

import datetime
import itertools
import os
import platform
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractContextManager, AsyncExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from torture_support import (
    HERE,
    SUBJECTS,
    Measurement,
    Report,
    Row,
    ServerProcess,
    Settings,
    raise_fd_limit,
    started,
)

REPORT_KEY = pytest.StashKey[Report]()
REPORT_PATH_KEY = pytest.StashKey[Path]()
PAGE = HERE.parent / "docs" / "reliability.md"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("torture")
    group.addoption(
        "--soak", action="store_true", help="long mode: far larger loads (about 15 minutes on two cores)"
    )
    group.addoption(
        "--write-report",
        action="store_true",
        help=f"write the table to {PAGE.relative_to(HERE.parent)} (default: a temporary file)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT_KEY] = Report()
    # The 10k-connections attack needs far more than the usual 1024 descriptors, here and in servers.
    raise_fd_limit()


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("soak"))


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Report:
    return pytestconfig.stash[REPORT_KEY]


@pytest.fixture
def measure(
    report: Report, request: pytest.FixtureRequest
) -> Callable[..., AbstractContextManager[Measurement]]:
    """``with measure(server, attack, load) as m``: this test's row for that server."""

    def bound(server: ServerProcess | str, attack: str, load: str) -> AbstractContextManager[Measurement]:
        return report.measure(request.node.nodeid, server, attack, load)

    return bound


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await launch(kind, settings)``: a started server process, stopped after the test.

    A peer that will not start here skips its case (the table says so); pyre-server must start.
    """
    counter = itertools.count()
    async with AsyncExitStack() as stack:

        async def start(kind: str, settings: Settings | None = None) -> ServerProcess:
            log_path = tmp_path / f"{kind}-{next(counter)}.log"
            try:
                return await stack.enter_async_context(started(kind, settings or Settings(), log_path))
            except RuntimeError as error:
                if kind in SUBJECTS:
                    raise
                pytest.skip(f"{kind} does not run here: {error}")

        yield start


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """``shared(kind, settings)``: one server process per kind and settings for the whole module.

    For attacks made of many small cases, so that each case does not pay for a server start.
    """
    running: dict[tuple[str, Settings], ServerProcess] = {}
    directory = tmp_path_factory.mktemp("shared")

    def get(kind: str, settings: Settings | None = None) -> ServerProcess:
        key = (kind, settings or Settings())
        if key not in running:
            server = ServerProcess(kind, key[1], directory / f"{kind}-{len(running)}.log")
            try:
                server.wait_ready_blocking()
            except RuntimeError as error:
                server.stop()
                if kind in SUBJECTS:
                    raise
                pytest.skip(f"{kind} does not run here: {error}")
            running[key] = server
        server = running[key]
        if server.subject and not server.alive():
            pytest.fail(f"{kind} died in an earlier case of this module: {server.log()[-2000:]}")
        return server

    yield get
    for server in running.values():
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each test's result, so the table can tell a holding row from a known defect."""
    result = yield
    if result.when == "call" or result.skipped:
        if result.skipped:
            outcome = "xfailed" if hasattr(result, "wasxfail") else "skipped"
        else:
            outcome = result.outcome
        report = item.config.stash[REPORT_KEY]
        report.results[item.nodeid] = outcome
        if hasattr(result, "wasxfail"):
            report.reasons[item.nodeid] = result.wasxfail
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    report = session.config.stash[REPORT_KEY]
    if not report.rows:
        return
    soak = bool(session.config.getoption("soak"))
    target = (
        PAGE
        if session.config.getoption("write_report")
        else Path(tempfile.gettempdir()) / "pyre-reliability.md"
    )
    target.write_text(render(report, soak))
    session.config.stash[REPORT_PATH_KEY] = target


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if REPORT_PATH_KEY in config.stash:
        terminalreporter.write_line(f"torture report written to {config.stash[REPORT_PATH_KEY]}")


def describe_run(soak: bool) -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("pyre-server", "pyre-asgi", "uvicorn", "granian", "h11")
    )
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--", "packages", "torture") else ""
    return (
        f"Generated by `nox -s torture -- {'--soak ' if soak else ''}--write-report` on {today}, "
        f"commit `{git('rev-parse', '--short', 'HEAD')}`{dirty}, **{'soak' if soak else 'quick'} mode**, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {versions}."
    )


INTRODUCTION = """\
pyre-server under attack, as the torture suite in `torture/` measures it (`nox -s torture`, part of
`nox` and of CI). Each server runs as its own process on 127.0.0.1 serving the same application: the
pyre-spec app of `torture/torture_apps.py` on pyre-server (the ASGI one through pyre-asgi where the
row says *ASGI app*), the equivalent ASGI app on uvicorn and granian, each with the same timeouts
where it has a setting for them. The attack clients are raw asyncio sockets in the pytest process;
h11 is the fuzzer's oracle.

pyre-server's outcomes are assertions: ✅ the row holds, ❌ *known defect* is a test marked as an
expected failure (strict, so it fails the suite once fixed and the mark must go). uvicorn's and
granian's cells are measurements only; a peer is never a reason for the suite to fail, and "—" means
the attack does not apply to it (the pyre-spec app runs only on pyre-server).

Quick mode is what CI runs: bounded loads, a few minutes on two cores. `--soak` multiplies them
(5x the slowloris connections, 500,000 fuzz cases, 1,000,000 soak requests).
Times are wall-clock on a shared two-core machine: read them as bounds, not benchmarks."""


# The table's order: the list of attacks, not the alphabetical order the modules run in.
MODULES = [
    "test_slowloris",
    "test_slow_reader",
    "test_connections",
    "test_oversized",
    "test_smuggling",
    "test_fuzz",
    "test_app_faults",
    "test_resets",
    "test_half_close",
    "test_sigterm",
    "test_soak",
]


def attack_order(row: Row) -> int:
    module = Path(row.nodeid.split("::")[0]).stem
    return MODULES.index(module) if module in MODULES else len(MODULES)


def render(report: Report, soak: bool) -> str:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted(report.rows, key=attack_order):
        groups.setdefault((row.attack, row.load), {})[row.server] = row
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by torture/conftest.py from a run of the suite: edit the suite, not this page. -->",
        "",
        INTRODUCTION,
        "",
        describe_run(soak),
        "",
        "| attack | load | pyre outcome | numbers | uvicorn outcome | granian outcome |",
        "|---|---|---|---|---|---|",
    ]
    defects = []
    for (attack, load), rows in groups.items():
        subject = next((rows[kind] for kind in SUBJECTS if kind in rows), None)
        if subject is None:
            pyre_cell, numbers = "—", ""
        else:
            result = report.results.get(subject.nodeid, "not run")
            if result == "xfailed":
                mark = "❌ known defect:"
                defects.append(f"- **{attack}**: {report.reasons.get(subject.nodeid, '')}")
            elif result == "failed" or subject.failures:
                mark = "❌ FAILED:"
            else:
                mark = "✅" if result == "passed" else f"{result}:"
            failure = f" ({'; '.join(subject.failures)})" if subject.failures else ""
            pyre_cell, numbers = f"{mark} {subject.outcome}{failure}", subject.numbers

        def peer(kind: str, rows: dict[str, Any] = rows) -> str:
            row = rows.get(kind)
            if row is None:
                return "—"
            if report.results.get(row.nodeid) == "skipped":
                return "does not run here"
            return f"{row.outcome} ({row.numbers})" if row.numbers else row.outcome

        cells = [attack, load, pyre_cell, numbers, peer("uvicorn"), peer("granian")]
        lines.append("| " + " | ".join(escape(cell) for cell in cells) + " |")
    if defects:
        lines += [
            "",
            "## Known defects",
            "",
            "Open in this run, each a strict expected failure:",
            "",
            *defects,
        ]
    lines += [
        "",
        "## Regenerating this page",
        "",
        "`nox -s torture -- --write-report` (quick mode) or `nox -s torture -- --soak --write-report`;",
        "a run without `--write-report` writes the same page to the temporary directory and says where.",
        "",
    ]
    return "\n".join(lines)


def escape(cell: str) -> str:
    """Table-safe: no pipe, newline or markdown emphasis from measured bytes."""
    for raw, safe in (("|", "\\|"), ("\n", " "), ("*", "\\*"), ("_", "\\_"), ("<", "&lt;")):
        cell = cell.replace(raw, safe)
    return cell
