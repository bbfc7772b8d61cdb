"""The benchmark suite's own parts: what it reads from wrk, h2load and /proc, and the verdicts it writes.

The samples in ``benchmark_samples/`` are real outputs, recorded on this machine:
h2load against hypercorn (h2c) and granian (TLS), against a closed port and a
missing route, its per-request log, and the line the suite's wrk script prints.
Nothing here times anything.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

import pytest

from benchmarks import cli, h2load, processes, report, wrk
from benchmarks.samples import Sample, cpu_us_per_request
from benchmarks.scenarios import MEMORY, SCENARIOS
from benchmarks.targets import COMPILED, COMPILED_PYTHON, TARGETS

SAMPLES = pathlib.Path(__file__).parent / "benchmark_samples"


def sample_text(name: str) -> str:
    return (SAMPLES / name).read_text()


# h2load


def test_h2load_summary_and_log_make_a_sample() -> None:
    log = sample_text("h2load-log.tsv")
    sample = h2load.parse(sample_text("h2load-h2c.txt"), log)
    # requests: 3616 succeeded; h2load's 3616.00 req/s divides by the 1 s main duration, not the
    # 1.01 s "finished in", which includes stopping the clients
    assert (sample.requests, sample.seconds, sample.rps) == (3616, 1.0, 3616.0)
    assert sample.errors == {}
    durations_ms = sorted(int(line.split("\t")[2]) / 1e3 for line in log.splitlines())
    assert len(durations_ms) == 40
    assert sample.p50_ms == durations_ms[19]  # nearest rank: the 20th of 40
    assert sample.p90_ms == durations_ms[35]
    assert sample.p99_ms == sample.p999_ms == sample.max_ms == durations_ms[-1]


def test_h2load_over_tls_is_accepted_as_h2() -> None:
    sample = h2load.parse(sample_text("h2load-tls.txt"), sample_text("h2load-log.tsv"))
    assert sample.requests == 40755


def test_h2load_that_never_connected_is_an_error() -> None:
    with pytest.raises(h2load.H2loadError, match=r"did not speak HTTP/2 .*no connection"):
        h2load.parse(sample_text("h2load-refused.txt"), "")


def test_h2load_that_fell_back_to_http11_is_an_error() -> None:
    output = sample_text("h2load-h2c.txt").replace(
        "Application protocol: h2c", "Application protocol: http/1.1"
    )
    with pytest.raises(h2load.H2loadError, match=r"application protocol: http/1\.1"):
        h2load.parse(output, sample_text("h2load-log.tsv"))


def test_h2load_answered_only_with_errors_is_an_error() -> None:
    with pytest.raises(h2load.H2loadError, match="8819 of 8819 responses were 4xx or 5xx"):
        h2load.parse(sample_text("h2load-404.txt"), "")


def test_h2load_error_statuses_among_successes_are_counted() -> None:
    output = sample_text("h2load-h2c.txt").replace(
        "3624 2xx, 0 3xx, 0 4xx, 0 5xx", "3600 2xx, 0 3xx, 3 4xx, 5 5xx"
    )
    sample = h2load.parse(output, sample_text("h2load-log.tsv"))
    assert sample.errors == {"status": 8}


def test_h2load_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(h2load.H2loadError, match="no summary"):
        h2load.parse("starting benchmark...\n", "")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(value) for value in range(1, 1001)]
    assert [h2load.percentile(values, rank) for rank in (50, 90, 99, 99.9, 100)] == [500, 900, 990, 999, 1000]
    assert h2load.percentile([7.0], 99.9) == 7.0
    # 41,000 x 99.9 / 100 comes out a hair above 40,959 in floating point
    assert h2load.percentile([float(value) for value in range(1, 41_001)], 99.9) == 40_959


# wrk


def test_wrk_result_line_carries_every_percentile() -> None:
    line = sample_text("wrk-result.txt").strip().removeprefix(wrk.RESULT_MARKER)
    sample = wrk.parse(line)
    assert (sample.requests, sample.seconds) == (20691, 1.011787)
    assert (sample.p50_ms, sample.p90_ms, sample.p99_ms, sample.p999_ms) == (0.179, 4.044, 7.968, 11.639)
    assert sample.errors == {}


def test_wrk_script_reports_the_999th_permille() -> None:
    assert "latency:percentile(99.9)" in wrk.REPORT_LUA


# CPU per request


def test_cpu_microseconds_per_request() -> None:
    sample = Sample(40_000, 2.0, 1, 2, 3, 4, 5, {}, server_cpu_seconds=0.8)
    assert sample.cpu_us_per_request == pytest.approx(20.0)
    assert sample.server_cpu == pytest.approx(0.4)
    assert cpu_us_per_request(0.5, 0) == 0.0


BURNER = """
import os, signal, sys, time
child = os.fork()
if child == 0:  # a worker: burns 0.5 s of CPU, says so, and idles until it is stopped
    start = time.process_time()
    while time.process_time() - start < 0.5:
        pass
    print("burned", flush=True)
    time.sleep(120)
    os._exit(0)
sys.stdin.readline()  # the test says when the worker is to stop
os.kill(child, signal.SIGTERM)
os.waitpid(child, 0)
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_group_cpu_counts_a_forked_worker_alive_and_reaped() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", BURNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        assert server.stdout.readline() == "burned\n"
        members = processes.process_group(server.pid)
        assert server.pid in members
        assert len(members) == 2
        own = own_cpu_seconds(server.pid)
        assert own < 0.3  # the parent itself only waited
        assert processes.group_cpu_seconds(server.pid) >= own + 0.45
        server.stdin.write("exit\n")
        server.stdin.flush()
        assert server.stdout.readline() == "reaped\n"
        assert processes.process_group(server.pid) == [server.pid]
        # The reaped worker's time is now the parent's cutime and cstime: still counted.
        assert processes.group_cpu_seconds(server.pid) >= own + 0.45
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def own_cpu_seconds(pid: int) -> float:
    fields = processes.stat_fields(pathlib.Path(f"/proc/{pid}/stat").read_text())
    return (int(fields[11]) + int(fields[12])) / processes.CLOCK_TICKS


# Goals


def result(rps: float, cpu_us: float, p99_ms: float = 1.0) -> dict[str, Any]:
    def spread(value: float) -> dict[str, float]:
        return {"median": value, "min": value, "max": value}

    return {"status": "ok", "rps": spread(rps), "cpu_us": spread(cpu_us), "p99_ms": spread(p99_ms)}


def document(results: dict[str, dict[str, Any]], scenario: str = "plaintext") -> dict[str, Any]:
    by_name = {target.name: target for target in TARGETS}
    targets = [
        {"name": name, "server": by_name[name].server, "family": by_name[name].family} for name in results
    ]
    return {"targets": targets, "scenarios": [{"name": scenario, "results": results}]}


def goals_by_text(
    results: dict[str, dict[str, Any]], scenario: str = "plaintext"
) -> dict[str, dict[str, Any]]:
    return {goal["text"]: goal for goal in report.check_goals(document(results, scenario))}


def test_a_goal_is_judged_by_requests_per_second_and_by_cpu_per_request() -> None:
    goals = goals_by_text({"pyre-asgi": result(60_000, 30.0, 2.0), "uvicorn": result(30_000, 40.0, 4.0)})
    goal = goals["raw ASGI on pyre-server >= 1.5x uvicorn"]
    assert goal["ratio"] == pytest.approx(2.0)
    assert goal["verdict"] == "met"
    # uvicorn's 40 µs over Pyre's 30 µs: 1.33x less CPU per request, short of 1.5x
    assert goal["cpu_ratio"] == pytest.approx(40 / 30)
    assert goal["cpu_verdict"] == "NOT MET"
    latency = goals["raw ASGI on pyre-server p99 <= 0.7x uvicorn's"]
    assert latency["ratio"] == pytest.approx(0.5)
    assert latency["verdict"] == "met"
    assert "cpu_verdict" not in latency  # a latency goal has no CPU reading


def test_a_goal_whose_target_failed_is_not_measured() -> None:
    goals = goals_by_text({"pyre-asgi": {"status": "failed", "reason": "x"}, "uvicorn": result(30_000, 40.0)})
    goal = goals["raw ASGI on pyre-server >= 1.5x uvicorn"]
    assert (goal["verdict"], goal["cpu_verdict"]) == ("not measured", "not measured")


def test_no_peer_beats_pyre_compares_the_best_of_each_side_by_each_measure() -> None:
    results = {
        "pyre": result(50_000, 20.0),
        "pyre-asgi": result(40_000, 18.0),
        "granian-rsgi": result(55_000, 19.0),
        "uvicorn": result(30_000, 40.0),
        "pyre-w2": result(90_000, 25.0),  # two workers are not a one-core target
    }
    goal = goals_by_text(results)["no peer beats Pyre's best target"]
    assert goal["ratio"] == pytest.approx(50 / 55)
    assert goal["verdict"] == "NOT MET"
    assert list(goal["compared"]) == ["pyre", "granian-rsgi"]
    assert goal["cpu_ratio"] == pytest.approx(19 / 18)
    assert goal["cpu_verdict"] == "met"
    assert list(goal["cpu_compared"]) == ["pyre-asgi", "granian-rsgi"]


def test_the_raw_asgi_app_is_compared_with_the_best_of_its_peers() -> None:
    results = {
        "pyre-asgi": result(20_000, 45.0),
        "uvicorn": result(22_000, 44.0),  # issue 12: post-json ran 0.89x uvicorn
        "granian-asgi": result(21_000, 30.0),
        "granian-rsgi": result(60_000, 10.0),  # another app: not one of the raw ASGI app's peers
    }
    goal = goals_by_text(results, "post-json")["the raw ASGI app is fastest on pyre-server"]
    assert goal["ratio"] == pytest.approx(20 / 22)
    assert list(goal["compared"]) == ["pyre-asgi", "uvicorn"]
    assert goal["cpu_ratio"] == pytest.approx(30 / 45)
    assert list(goal["cpu_compared"]) == ["pyre-asgi", "granian-asgi"]
    assert (goal["verdict"], goal["cpu_verdict"]) == ("NOT MET", "NOT MET")


def test_http2_goal_divides_by_hypercorn_over_the_same_transport() -> None:
    results = {"pyre-asgi-h2c": result(9_000, 50.0), "hypercorn-h2c": result(3_000, 200.0)}
    goal = goals_by_text(results, "h2-streams-10")["HTTP/2 (h2c): raw ASGI on pyre-server >= 2x hypercorn"]
    assert (goal["ratio"], goal["verdict"]) == (pytest.approx(3.0), "met")
    assert (goal["cpu_ratio"], goal["cpu_verdict"]) == (pytest.approx(4.0), "met")


def test_goals_table_shows_both_verdicts() -> None:
    doc = document({"pyre-asgi": result(60_000, 30.0), "uvicorn": result(30_000, 40.0)})
    doc["goals"] = report.check_goals(doc)
    rows = [line for line in report.goals_table(doc) if "1.5x uvicorn" in line]
    assert rows == [
        "| #12 | raw ASGI on pyre-server >= 1.5x uvicorn | plaintext | 2.00x | met | 1.33x | NOT MET |"
    ]


# Report rows and coverage


def test_result_rows_have_as_many_cells_as_the_header() -> None:
    scenario = {"name": "plaintext", "description": "d", "group": "main", "results": {}}
    header = report.scenario_table(scenario, {})[4]
    ok = {**result(1000, 10.0), "server_cpu": {"median": 0.9}, "load_cpu": {"median": 0.5}}
    rows = [report.result_row("a", ok), report.result_row("b", {"status": "failed", "reason": "boom"})]
    assert {row.count("|") for row in rows} == {header.count("|")}


def test_every_target_runs_a_scenario_and_every_scenario_has_targets() -> None:
    for target in TARGETS:
        assert cli.count_cases(SCENARIOS, [target]) or target.runs(MEMORY), target.name
    for scenario in SCENARIOS:
        assert cli.count_cases([scenario], TARGETS) >= 2, scenario.name


def test_every_asgi_framework_runs_on_all_three_servers() -> None:
    servers: dict[str, set[str]] = {}
    for target in TARGETS:
        servers.setdefault(target.family, set()).add(target.server)
    for family in ("starlette", "fastapi"):
        assert servers[family] == {"uvicorn", "granian", "pyre"}


def test_each_compiled_target_is_its_pure_twin_on_the_compiled_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_name = {target.name: target for target in TARGETS}
    compiled = [target for target in TARGETS if target.compiled]
    assert {target.name for target in compiled} == {f"{name}-compiled" for name in COMPILED}
    monkeypatch.setenv(COMPILED_PYTHON, "/opt/compiled/bin/python")
    for target in compiled:
        twin = by_name[target.name.removesuffix("-compiled")]
        assert (target.family, target.app, target.server) == (twin.family, twin.app, twin.server)
        assert target.command(8000)[0] == "/opt/compiled/bin/python"
        assert twin.command(8000)[0] == sys.executable
    monkeypatch.delenv(COMPILED_PYTHON)
    with pytest.raises(processes.Unavailable, match=COMPILED_PYTHON):
        processes.preflight(compiled[0])


def test_issue_12_goals_are_also_judged_on_the_compiled_build() -> None:
    pure = {(g.text, g.scenario) for g in report.GOALS if g.issue == 12 and g.target in COMPILED}
    again = {
        (goal.text.removesuffix(" (compiled)"), goal.scenario)
        for goal in report.GOALS
        if goal.target.endswith("-compiled")
    }
    assert pure
    assert again == pure
