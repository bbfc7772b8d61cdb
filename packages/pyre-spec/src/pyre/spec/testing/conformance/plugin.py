"""pytest plugin: prints the conformance report at the end of the session.

``conformance_tests`` enables it by itself; ``-p pyre.spec.testing.conformance.plugin``
or ``pytest_plugins = ["pyre.spec.testing.conformance.plugin"]`` enables it explicitly.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from ._cases import Case
from ._coverage import coverage, coverage_table
from ._report import Results

PLUGIN_NAME = "pyre-spec-conformance-report"


class ConformanceReport:
    def __init__(self) -> None:
        self.results = Results()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case):
            outcome = _outcome(report)
            if outcome is not None:
                self.results.record(case.id, case.assertion, case.level, outcome)
        return report

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.results.outcomes:
            from ._suite import all_cases

            terminalreporter.write_sep("=", "pyre-spec conformance")
            terminalreporter.write_line(self.results.table())
            terminalreporter.write_sep("-", "pyre-spec conformance: coverage of the server-bound assertions")
            outcomes = {case_id: outcome for case_id, (_, _, outcome) in self.results.outcomes.items()}
            terminalreporter.write_line(coverage_table(coverage(all_cases()), outcomes))


def _outcome(report: pytest.TestReport) -> str | None:
    if report.failed:
        return "failed"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return "passed" if report.when == "call" else None


def ensure_registered(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(ConformanceReport(), PLUGIN_NAME)


def pytest_configure(config: pytest.Config) -> None:
    ensure_registered(config)
