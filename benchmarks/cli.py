"""``python -m benchmarks``: run the suite and write its report."""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import pathlib
import shutil
import signal
from typing import Any, NoReturn

from . import h2load, machine, processes, report, wrk
from .runner import Run, Settings, log_to_stderr
from .scenarios import MEMORY, MEMORY_DESCRIPTION, SCENARIO_NAMES, SCENARIOS, Scenario
from .targets import TARGET_NAMES, TARGETS, Target

DOCS = processes.ROOT / "docs" / "benchmarks"
WORK = processes.ROOT / "benchmarks" / ".work"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Pyre's side-by-side benchmarks: each server pinned to one core, wrk to another, "
            "every answer checked before it is timed."
        ),
        epilog="Through nox: `nox -s bench -- --quick --only plaintext` (nox needs the `--`).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every case, shorter: a 1 s warm-up and 2 repetitions of 1 s, report under "
        "benchmarks/.work/quick/ (default: the full mode, a 2 s warm-up and 3 repetitions of 5 s, "
        "report in docs/benchmarks/); the estimated duration is printed at the start",
    )
    parser.add_argument("--only", metavar="NAMES", help="comma-separated scenarios (shell patterns allowed)")
    parser.add_argument("--servers", metavar="NAMES", help="comma-separated targets (shell patterns allowed)")
    parser.add_argument("--output", metavar="DIR", type=pathlib.Path, help="where to write the report")
    parser.add_argument("--list", action="store_true", help="list scenarios and targets, then exit")
    return parser.parse_args(argv)


def select(pattern_list: str | None, names: list[str], what: str) -> list[str]:
    if not pattern_list:
        return names
    patterns = [pattern.strip() for pattern in pattern_list.split(",") if pattern.strip()]
    unknown = [pattern for pattern in patterns if not fnmatch.filter(names, pattern)]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (see --list)")
    return [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]


def print_list() -> None:
    print("scenarios:")
    for scenario in SCENARIOS:
        print(f"  {scenario.name:<18} {scenario.description}")
    print(f"  {MEMORY:<18} {MEMORY_DESCRIPTION}")
    print("targets:")
    for target in TARGETS:
        print(f"  {target.name:<24} {target.label}")
    cases = count_cases(SCENARIOS, TARGETS)
    memory_cases = sum(target.runs(MEMORY) for target in TARGETS)
    for quick in (True, False):
        settings = Settings.for_mode(quick, 0, 1)
        print(
            f"{settings.mode} mode, everything: {cases} cases and {memory_cases} memory cases, "
            f"about {estimate_minutes(settings, cases, memory_cases):.0f} min"
        )


def choose_cores(log: Any) -> tuple[int, int]:
    cores = machine.usable_cores()
    if len(cores) >= 2:
        return cores[0], cores[1]
    log(
        f"WARNING: only {len(cores)} usable core: the server and wrk share core {cores[0]}, so the numbers "
        "measure both; ratios remain comparable within this run only"
    )
    return cores[0], cores[0]


def count_cases(scenarios: list[Scenario], targets: list[Target]) -> int:
    return sum(target.runs(s.name) and target.http == s.http for s in scenarios for target in targets)


def estimate_minutes(settings: Settings, cases: int, memory_cases: int) -> float:
    """Each case: its load time plus ~0.3 s per load-generator start and check; each memory case ~15 s."""
    runs = settings.repetitions + 1
    per_case = settings.warmup_seconds + settings.repetitions * settings.seconds + 0.3 * runs
    return (cases * per_case + memory_cases * 15) / 60


def on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.list:
        print_list()
        return 0
    scenario_names = select(arguments.only, SCENARIO_NAMES, "scenario")
    target_names = select(arguments.servers, TARGET_NAMES, "target")
    wrk_path = wrk.ensure_wrk()
    if not shutil.which("taskset"):
        raise SystemExit("taskset is missing (it is part of util-linux): install it and run again")
    log = log_to_stderr
    server_core, load_core = choose_cores(log)
    settings = Settings.for_mode(arguments.quick, server_core, load_core)
    output = arguments.output or (WORK / "quick" if arguments.quick else DOCS)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    work = WORK / f"run-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    targets = [target for target in TARGETS if target.name in target_names]
    scenarios = [scenario for scenario in SCENARIOS if scenario.name in scenario_names]
    cases = count_cases(scenarios, targets)
    memory_cases = sum(target.runs(MEMORY) for target in targets) if MEMORY in scenario_names else 0
    h2load_path = h2load.find_h2load() if any(s.http == "2" for s in scenarios) else None
    log(
        f"{settings.mode} mode: {cases} cases ({len(scenarios)} scenarios) and {memory_cases} memory cases "
        f"on {len(targets)} targets; servers on core {server_core}, the load on core {load_core}; "
        f"logs in {work}; estimated duration {estimate_minutes(settings, cases, memory_cases):.0f} min"
    )
    busy = machine.busy_fractions([server_core, load_core])
    if max(busy.values()) > 0.1:
        log(
            "WARNING: the machine is busy with other work ("
            + ", ".join(f"{name} {fraction:.0%}" for name, fraction in busy.items())
            + "): expect noisy numbers"
        )
    signal.signal(signal.SIGTERM, on_sigterm)
    run = Run(settings, targets, work, wrk_path, h2load_path)
    results: dict[str, Any] = {}
    try:
        if scenarios:
            log("starting servers")
            run.start_servers()
        for scenario in scenarios:
            log(f"scenario {scenario.name}: {scenario.description}")
            results[scenario.name] = run.run_scenario(scenario)
        run.stop_servers()
        memory_results = None
        if MEMORY in scenario_names:
            log(f"scenario {MEMORY}: {MEMORY_DESCRIPTION}")
            memory_results = run.run_memory()
    except KeyboardInterrupt:
        log("interrupted: stopping every server started")
        return 130
    finally:
        processes.stop_all()
    document = report.build(
        settings=settings,
        targets=targets,
        unavailable=run.unavailable,
        scenarios=scenarios,
        cases=results,
        memory_results=memory_results,
        environment={**machine.describe(wrk_path, h2load_path), "busy_before_run": busy},
        command=machine.command_line(),
    )
    written = report.write(document, output)
    log("wrote " + ", ".join(str(path) for path in written))
    print(report.markdown_tables(document))
    return 0
