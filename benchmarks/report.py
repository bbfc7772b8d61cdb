"""The report: ``results.json`` (everything), ``results.md`` (tables), ``results.png`` (chart), ``index.md``.

Ratios, not absolute numbers, are the result: every row is divided by the same
app on uvicorn, framework rows also by Starlette on uvicorn, and the goals the
project set itself (issues 3, 4, 5 and 10) are checked against this run.
"""

from __future__ import annotations

import json
import operator
import pathlib
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .machine import versions
from .runner import Case, Settings
from .scenarios import MEMORY_DESCRIPTION, Scenario
from .targets import FRAMEWORK_BASELINE, TLS_FAMILY, WORKERS_FAMILY, Target, baseline


@dataclass(frozen=True)
class Goal:
    issue: int
    text: str
    scenario: str
    target: str
    versus: str
    metric: str
    """``rps`` or ``p99_ms``: the ratio is target's over versus's."""
    comparison: str
    threshold: float


# fmt: off
GOALS = [
    Goal(issue, text, scenario, target, versus, metric, comparison, threshold)
    for issue, text, scenarios, target, versus, metric, comparison, threshold in [
        (3, "pyre-server >= 2.0x uvicorn requests/s", "plaintext", "pyre", "uvicorn", "rps", ">=", 2.0),
        (3, "pyre-server p99 <= 0.7x uvicorn's", "plaintext", "pyre", "uvicorn", "p99_ms", "<=", 0.7),
        (3, "pyre-server beats granian RSGI", "plaintext", "pyre", "granian-rsgi", "rps", ">", 1.0),
        (4, "pyre-framework >= 2.0x Starlette", "hello-name user-id", "pyre-framework", "starlette", "rps",
         ">=", 2.0),
        (4, "pyre-framework >= 1.5x BlackSheep", "hello-name user-id", "pyre-framework", "blacksheep", "rps",
         ">=", 1.5),
        (4, "pyre-framework >= 0.75x a bare pyre-spec app", "hello-name user-id", "pyre-framework", "pyre",
         "rps", ">=", 0.75),
        (5, "raw ASGI on pyre-server >= 1.3x uvicorn", "plaintext", "pyre-asgi", "uvicorn", "rps", ">=", 1.3),
        (5, "raw ASGI on pyre-server p99 <= 0.75x uvicorn's", "plaintext", "pyre-asgi", "uvicorn", "p99_ms",
         "<=", 0.75),
        (5, "Starlette on pyre-server >= 1.15x on uvicorn", "plaintext", "starlette-pyre", "starlette", "rps",
         ">=", 1.15),
        (5, "FastAPI on pyre-server >= 1.15x on uvicorn", "plaintext", "fastapi-pyre", "fastapi", "rps",
         ">=", 1.15),
        (5, "pyre-framework via to_asgi on uvicorn beats Starlette on uvicorn", "plaintext",
         "pyre-framework-uvicorn", "starlette", "rps", ">", 1.0),
        (10, "pyre-server with 2 workers >= 1.8x one worker (where wrk is not the limit)", "plaintext json",
         "pyre-w2", "pyre", "rps", ">=", 1.8),
        (10, "pyre-server keeps its lead with 2 workers: >= 2.0x uvicorn with 2", "plaintext json", "pyre-w2",
         "uvicorn-w2", "rps", ">=", 2.0),
    ]
    for scenario in scenarios.split()
]
# fmt: on
COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le}


def build(
    *,
    settings: Settings,
    targets: list[Target],
    unavailable: Mapping[str, str],
    scenarios: list[Scenario],
    cases: Mapping[str, Mapping[str, Case]],
    memory_results: dict[str, dict[str, Any]] | None,
    environment: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    distributions = sorted({name for target in targets for name in target.distributions})
    document: dict[str, Any] = {
        "command": command,
        "mode": settings.mode,
        "settings": asdict(settings),
        "machine": environment,
        "versions": versions(distributions),
        "targets": [
            {
                "name": target.name,
                "label": target.label,
                "server": target.server,
                "interface": target.interface,
                "app": target.app,
                "family": target.family,
                "baseline": baseline(target),
                "status": "unavailable" if target.name in unavailable else "ok",
                **({"reason": unavailable[target.name]} if target.name in unavailable else {}),
            }
            for target in targets
        ],
        "scenarios": [],
    }
    for scenario in scenarios:
        # wrk times a pipelined batch, not a request: its percentiles say nothing per request.
        with_latency = scenario.pipeline == 1
        results = {name: case.summary(with_latency) for name, case in cases[scenario.name].items()}
        add_ratios(results, targets)
        document["scenarios"].append(
            {
                "name": scenario.name,
                "description": scenario.description,
                "group": scenario.group,
                "connections": scenario.connections,
                "pipeline": scenario.pipeline,
                "results": results,
            }
        )
    if memory_results is not None:
        document["memory"] = {"description": MEMORY_DESCRIPTION, "results": memory_results}
    document["goals"] = check_goals(document)
    return document


def median(results: Mapping[str, Any], target: str, metric: str = "rps") -> float | None:
    result = results.get(target)
    if not result or result["status"] != "ok" or metric not in result:
        return None
    value: float = result[metric]["median"]
    return value


def add_ratios(results: dict[str, dict[str, Any]], targets: list[Target]) -> None:
    for target in targets:
        result = results.get(target.name)
        rps = median(results, target.name)
        if result is None or rps is None:  # not run (a target of a few scenarios), or no number
            continue
        base = median(results, baseline(target))
        if base:
            result["x_uvicorn"] = rps / base
            base_p99 = median(results, baseline(target), "p99_ms")
            p99 = median(results, target.name, "p99_ms")
            if base_p99 and p99 is not None:
                result["p99_x_uvicorn"] = p99 / base_p99
        starlette = median(results, FRAMEWORK_BASELINE)
        if target.family not in ("raw", TLS_FAMILY, WORKERS_FAMILY) and starlette:
            result["x_starlette"] = rps / starlette


def check_goals(document: dict[str, Any]) -> list[dict[str, Any]]:
    by_name = {scenario["name"]: scenario["results"] for scenario in document["scenarios"]}
    measured = {target["name"] for target in document["targets"]}
    checked = []
    for goal in GOALS:
        if goal.scenario not in by_name or not {goal.target, goal.versus} <= measured:
            continue
        entry: dict[str, Any] = asdict(goal)
        results = by_name[goal.scenario]
        mine, theirs = median(results, goal.target, goal.metric), median(results, goal.versus, goal.metric)
        if mine is None or not theirs:
            entry["verdict"] = "not measured"
        else:
            entry["ratio"] = mine / theirs
            entry["verdict"] = "met" if COMPARE[goal.comparison](mine / theirs, goal.threshold) else "NOT MET"
        checked.append(entry)
    return checked


# Markdown


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def result_row(label: str, result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"| {label} | {result['status']} | | | | | | | {escape(result.get('reason', ''))} |"
    rps = result["rps"]
    errors = ", ".join(f"{count} {name}" for name, count in result.get("errors", {}).items())
    cells = [
        label,
        f"**{number(rps['median'])}**",
        f"{number(rps['min'])} - {number(rps['max'])}",
        latency(result, "p50_ms"),
        latency(result, "p99_ms"),
        ratio(result.get("x_uvicorn")),
        ratio(result.get("x_starlette")),
        f"{result['server_cpu']['median']:.0%} / {result['wrk_cpu']['median']:.0%}",
        f"socket errors: {errors}" if errors else "",
    ]
    return "| " + " | ".join(cells) + " |"


def latency(result: dict[str, Any], metric: str) -> str:
    return f"{result[metric]['median']:.2f}" if metric in result else "n/a"


def escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def scenario_table(scenario: dict[str, Any], labels: dict[str, str]) -> list[str]:
    ranked = sorted(
        scenario["results"].items(),
        key=lambda item: -(item[1]["rps"]["median"] if item[1]["status"] == "ok" else -1.0),
    )
    heading = f"### {scenario['name']}"
    lines = [heading, "", f"{scenario['description']}.", ""]
    lines += [
        "| target | req/s (median) | min - max | p50 ms | p99 ms | x uvicorn | x Starlette "
        "| CPU server / wrk | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    lines += [result_row(labels[name], result) for name, result in ranked]
    return [*lines, ""]


def goals_table(document: dict[str, Any]) -> list[str]:
    lines = ["| issue | goal | scenario | measured | verdict |", "|---|---|---|--:|---|"]
    for goal in document["goals"]:
        measured = ratio(goal.get("ratio"))
        lines.append(
            f"| #{goal['issue']} | {goal['text']} | {goal['scenario']} | {measured} | {goal['verdict']} |"
        )
    return [*lines, ""]


def fastest_table(document: dict[str, Any]) -> list[str]:
    """Per scenario: the fastest target, and how close the fastest one on pyre-server came."""
    on_pyre = {target["name"] for target in document["targets"] if target["server"] == "pyre"}
    lines = [
        "The fastest target of each scenario, and the fastest on pyre-server as a fraction of it. "
        "Where that is not pyre-server, [the analysis](analysis.md) gives the reason profiling found.",
        "",
        "| scenario | fastest | req/s | fastest on pyre-server | req/s | fraction |",
        "|---|---|--:|---|--:|--:|",
    ]
    for scenario in document["scenarios"]:
        results = scenario["results"]
        speeds = {name: speed for name in results if (speed := median(results, name)) is not None}
        if not speeds:
            continue
        fastest = max(speeds, key=speeds.__getitem__)
        pyre_speeds = {name: speed for name, speed in speeds.items() if name in on_pyre}
        if not pyre_speeds:
            lines.append(f"| {scenario['name']} | `{fastest}` | {number(speeds[fastest])} | | | |")
            continue
        best_pyre = max(pyre_speeds, key=pyre_speeds.__getitem__)
        fraction = pyre_speeds[best_pyre] / speeds[fastest]
        lines.append(
            f"| {scenario['name']} | `{fastest}` | {number(speeds[fastest])} | `{best_pyre}` | "
            f"{number(pyre_speeds[best_pyre])} | {ratio(fraction)} |"
        )
    return [*lines, ""]


def memory_table(document: dict[str, Any], labels: dict[str, str]) -> list[str]:
    memory = document.get("memory")
    if not memory:
        return []
    lines = [
        f"{memory['description']}. Each server is freshly started; idle is its RSS after one request. "
        "Keep-alive timeouts are set to 120 s where a server has one, so the connections stay open "
        "while they are measured.",
        "",
        "| target | idle MiB | loaded MiB | KiB per connection | connections still open |",
        "|---|--:|--:|--:|--:|",
    ]
    ranked = sorted(memory["results"].items(), key=lambda item: item[1].get("loaded_mib", float("inf")))
    for name, result in ranked:
        if result["status"] != "ok":
            lines.append(f"| {labels[name]} | {result['status']} | | | {escape(result.get('reason', ''))} |")
            continue
        lines.append(
            f"| {labels[name]} | {result['idle_mib']:.1f} | {result['loaded_mib']:.1f} | "
            f"{result['per_connection_kib']:.1f} | {result['still_open']:,} / {result['connections']:,} |"
        )
    return [*lines, ""]


def markdown_tables(document: dict[str, Any]) -> str:
    labels = {target["name"]: f"{target['label']} (`{target['name']}`)" for target in document["targets"]}
    lines = ["## Goals", "", *goals_table(document)] if document["goals"] else []
    if document["scenarios"]:
        lines += ["## Fastest per scenario", "", *fastest_table(document)]
    lines += ["## Results", ""]
    lines += [
        "Median of the repetitions; the spread is the fastest and slowest repetition. "
        "x uvicorn divides by the same app on uvicorn (the raw ASGI app for the raw apps); "
        "x Starlette divides a framework's row by Starlette on uvicorn. "
        "CPU is the CPU time (user + system) the server and wrk used per second of load. "
        "Loopback network processing in softirq context is "
        "charged to neither, so a saturated fast server shows well under 100%; compare rows within a "
        "run: a row far below servers of its kind had its core taken by other work.",
        "",
    ]
    for group in ("main", "pipelining"):
        if group == "pipelining" and any(s["group"] == group for s in document["scenarios"]):
            lines += ["## Pipelining", "", "Requests/s counts responses; each batch holds 16 requests.", ""]
        for scenario in document["scenarios"]:
            if scenario["group"] == group:
                lines += scenario_table(scenario, labels)
    memory = memory_table(document, labels)
    if memory:
        lines += ["## Memory", "", *memory]
    unavailable = [t for t in document["targets"] if t["status"] != "ok"]
    if unavailable:
        lines += ["## Unavailable", ""]
        lines += [f"- `{t['name']}`: {escape(t.get('reason', ''))}" for t in unavailable]
        lines.append("")
    return "\n".join(lines)


def environment_section(document: dict[str, Any]) -> list[str]:
    machine = document["machine"]
    settings = document["settings"]
    return [
        "## Run",
        "",
        f"- Command: `{document['command']}`",
        f"- Mode: {document['mode']} (warm-up {settings['warmup_seconds']:g} s, "
        f"{settings['repetitions']} x {settings['seconds']:g} s per case)",
        f"- Date: {machine['date']}; commit {machine['commit']}",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; servers on core {settings['server_core']}, "
        f"wrk on core {settings['load_core']}",
        f"- {machine['kernel']}; {machine['python']}; {machine['wrk']}",
        "- Other work on those cores just before the run: "
        + ", ".join(f"{name} {fraction:.0%} busy" for name, fraction in machine["busy_before_run"].items()),
        "",
        "| package | version |",
        "|---|---|",
        *(f"| {name} | {version} |" for name, version in document["versions"].items()),
        "",
    ]


# Files


def write(document: dict[str, Any], output: pathlib.Path) -> list[pathlib.Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "results.json", output / "results.md"]
    written[0].write_text(json.dumps(document, indent=2) + "\n")
    tables = markdown_tables(document)
    written[1].write_text(
        "# Pyre benchmark results\n\n" + "\n".join(environment_section(document)) + "\n" + tables + "\n"
    )
    chart = output / "results.png"
    chart.unlink(missing_ok=True)  # never show a chart from an earlier run
    drawn = draw_chart(document, chart)
    if drawn:
        written.append(chart)
    page = output / "index.md"
    page.write_text(page_text(document, tables, drawn))
    return [*written, page]


def draw_chart(document: dict[str, Any], path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (nox -s bench installs it)", file=sys.stderr)
        return False
    panels = [s for s in document["scenarios"] if any(r["status"] == "ok" for r in s["results"].values())]
    if not panels:
        return False
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    height = 0.35 * len(document["targets"]) * rows + 1.5
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, height))
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    for axis, scenario in zip(flat, panels, strict=False):
        ok = [(name, r) for name, r in scenario["results"].items() if r["status"] == "ok"]
        ok.sort(key=lambda item: item[1]["rps"]["median"])
        medians = [r["rps"]["median"] for _, r in ok]
        low = [r["rps"]["median"] - r["rps"]["min"] for _, r in ok]
        high = [r["rps"]["max"] - r["rps"]["median"] for _, r in ok]
        colours = [
            "#d9480f" if name.startswith("pyre") or name.endswith("-pyre") else "#868e96" for name, _ in ok
        ]
        axis.barh([name for name, _ in ok], medians, xerr=[low, high], color=colours)
        axis.set_title(f"{scenario['name']} (c={scenario['connections']})", fontsize=10)
        axis.set_xlabel("requests/s")
        axis.tick_params(labelsize=8)
    for axis in flat[len(panels) :]:
        axis.axis("off")
    figure.suptitle(f"Pyre benchmarks ({document['mode']} mode), one core per server; orange: Pyre")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))  # room for the title
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


PAGE_INTRO = """\
# Benchmarks

Pyre's speed claims are ratios measured side by side, in one run, on one
machine: absolute numbers mean little on a shared machine, a ratio to uvicorn
measured seconds apart on the same cores means a lot.

## Method

- Every server runs one worker process pinned to one core (`taskset -c 0`);
  `wrk` (one thread) is pinned to the other core. The `-w2` targets run two
  worker processes (`--workers 2`), not pinned: they share the machine's
  cores with `wrk`, and their "x uvicorn" divides by uvicorn with two
  workers. Access logs are off,
  keep-alive timeouts are 120 s and listen backlogs 4096 wherever a server
  has the option; granian runs HTTP/1 only. The exact command lines are in
  `benchmarks/targets.py`.
- Before a case is timed, its request is sent for real and the status and
  body are checked (twice on one connection, or as a pipelined batch, or
  with the connection closed, as the case requires). A fast wrong answer is
  reported as *wrong*, never timed. Under load, any non-2xx response fails
  the case.
- Each case has a warm-up, then repetitions that go round every server in a
  rotated order, so drift during the run falls on every server alike. The
  tables give the median and the fastest and slowest repetition; latency
  percentiles are wrk's own, exact, from its Lua `done()` hook. The CPU
  column (time used by the server and by wrk per second of load) helps tell
  a slow server from a starved one on a busy machine.
- Servers: pyre-server (a native pyre-spec app, and a raw ASGI app through
  `pyre.asgi.from_asgi`), uvicorn with httptools and uvloop, granian (RSGI
  and ASGI), hypercorn with uvloop, each serving the same hand-written app.
  Frameworks: pyre-framework on pyre-server (and through `to_asgi` on
  uvicorn), Starlette, FastAPI, Litestar, BlackSheep and Falcon on uvicorn,
  Starlette and FastAPI also on pyre-server. The apps live in
  `benchmarks/apps/` and all do the same work.
- Memory: each server freshly started; a client pinned to the wrk core opens
  10,000 connections, makes one request on each and leaves them idle; the
  server's resident memory (its whole process tree) is read from `/proc`.

## Running it

```console
$ nox -s bench -- --quick       # every case, 2 x 2 s each: ~20 min on 2 cores
$ nox -s bench                  # full mode (warm-up, 3 x 5 s each): ~65 min; writes this page
$ nox -s bench -- --quick --only plaintext --servers pyre,uvicorn,granian-rsgi
$ nox -s bench -- --list        # scenarios and targets
```

nox needs the `--` before the suite's own options. Inside the bench venv,
`python -m benchmarks` takes the same options. Quick runs write their report
under `benchmarks/.work/quick/` unless given `--output`.

"""


def page_text(document: dict[str, Any], tables: str, has_chart: bool) -> str:
    parts = [PAGE_INTRO]
    if document["mode"] != "full":
        settings = document["settings"]
        parts.append(
            '!!! warning "Quick-mode numbers"\n    These numbers come from a quick run '
            f"({settings['repetitions']} x {settings['seconds']:g} s per case): indicative only.\n\n"
        )
    parts.append("\n".join(environment_section(document)) + "\n")
    if has_chart:
        parts.append("![Requests per second, per scenario and target](results.png)\n\n")
    parts.append(
        "Machine-readable: [results.json](results.json); tables alone: [results.md](results.md).\n\n"
    )
    parts.append(tables + "\n")
    return "".join(parts)
