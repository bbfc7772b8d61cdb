"""The report: ``results.json`` (everything), ``results.md`` (tables), two charts, ``index.md``.

Ratios, not absolute numbers, are the result: every row is divided by the same
app on uvicorn (on hypercorn for HTTP/2), framework rows also by Starlette on
uvicorn, and the goals the project set itself (issues 10, 12 and 15) are checked
against this run, by requests/s and by the server's CPU time per request.
"""

from __future__ import annotations

import json
import operator
import pathlib
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from .machine import versions
from .runner import Case, Settings
from .samples import PERCENTILES
from .scenarios import MEMORY_DESCRIPTION, Scenario
from .targets import (
    COMPILED,
    FRAMEWORK_BASELINE,
    H2_TLS_FAMILY,
    H2C_FAMILY,
    TLS_FAMILY,
    WORKERS_FAMILY,
    Target,
    baseline,
)

PYRE_BEST = "pyre's best"
"""A goal's side meaning the best of Pyre's one-core targets in the scenario."""
PEER_BEST = "the best peer"
"""A goal's side meaning the best of the other one-core targets in the scenario."""
ONE_CORE_EXCLUDED = {TLS_FAMILY, WORKERS_FAMILY, H2C_FAMILY, H2_TLS_FAMILY}
"""Families left out where one-core, cleartext HTTP/1.1 targets are ranked against each other."""


@dataclass(frozen=True)
class Goal:
    issue: int
    text: str
    scenario: str
    target: str
    versus: str
    metric: str
    """``rps`` or ``p99_ms``: the ratio is target's over versus's.  An ``rps`` goal is also
    checked by CPU time per request, as versus's over target's (so that both read "times
    better") against the same threshold.  ``target`` and ``versus`` each name one target, or
    several (space-separated: the side's best counts), or :data:`PYRE_BEST` and :data:`PEER_BEST`."""
    comparison: str
    threshold: float


H2_SCENARIOS = "h2-streams-1 h2-streams-10 h2-streams-100"
ONE_CORE_SCENARIOS = (
    "plaintext json hello-name user-id post-json large-64k upload-1m concurrency-1 concurrency-256 "
    "concurrency-1024 sleep-10ms new-connection pipelining-16"
)
# fmt: off
GOALS = [
    Goal(issue, text, scenario, target, versus, metric, comparison, threshold)
    for issue, text, scenarios, target, versus, metric, comparison, threshold in [
        (12, "raw ASGI on pyre-server >= 1.5x uvicorn", "plaintext", "pyre-asgi", "uvicorn", "rps", ">=",
         1.5),
        (12, "raw ASGI on pyre-server >= 1.0x granian ASGI", "plaintext", "pyre-asgi", "granian-asgi", "rps",
         ">=", 1.0),
        (12, "raw ASGI on pyre-server p99 <= 0.7x uvicorn's", "plaintext", "pyre-asgi", "uvicorn", "p99_ms",
         "<=", 0.7),
        (12, "Starlette on pyre-server >= 1.4x on uvicorn", "plaintext user-id", "starlette-pyre",
         "starlette", "rps", ">=", 1.4),
        (12, "FastAPI on pyre-server >= 1.25x on uvicorn", "plaintext user-id", "fastapi-pyre", "fastapi",
         "rps", ">=", 1.25),
        (12, "native pyre-spec app >= 2.6x uvicorn", "plaintext", "pyre", "uvicorn", "rps", ">=", 2.6),
        (12, "native pyre-spec app >= 1.2x granian RSGI", "plaintext", "pyre", "granian-rsgi", "rps", ">=",
         1.2),
        (12, "native pyre-spec app p99 no worse than granian RSGI's", "plaintext", "pyre", "granian-rsgi",
         "p99_ms", "<=", 1.0),
        (12, "pyre-framework >= 2.5x Starlette on uvicorn", "plaintext user-id", "pyre-framework",
         "starlette", "rps", ">=", 2.5),
        (12, "pyre-framework via to_asgi on uvicorn: p99 no worse than Starlette's", "plaintext",
         "pyre-framework-uvicorn", "starlette", "p99_ms", "<=", 1.0),
        (12, "no peer beats Pyre's best target", ONE_CORE_SCENARIOS, PYRE_BEST, PEER_BEST, "rps", ">=", 1.0),
        (12, "the raw ASGI app is fastest on pyre-server", ONE_CORE_SCENARIOS, "pyre-asgi",
         "uvicorn granian-asgi hypercorn", "rps", ">=", 1.0),
        (15, "HTTP/2 (h2c): raw ASGI on pyre-server >= 2x hypercorn", H2_SCENARIOS, "pyre-asgi-h2c",
         "hypercorn-h2c", "rps", ">=", 2.0),
        (15, "HTTP/2 (TLS): raw ASGI on pyre-server >= 2x hypercorn", H2_SCENARIOS, "pyre-asgi-h2-tls",
         "hypercorn-h2-tls", "rps", ">=", 2.0),
        (15, "HTTP/2 (h2c): native app within reach of granian RSGI (>= 0.8x)", H2_SCENARIOS, "pyre-h2c",
         "granian-rsgi-h2c", "rps", ">=", 0.8),
        (10, "pyre-server with 2 workers >= 1.8x one worker (where wrk is not the limit)", "plaintext json",
         "pyre-w2", "pyre", "rps", ">=", 1.8),
        (10, "pyre-server keeps its lead with 2 workers: >= 2.0x uvicorn with 2", "plaintext json", "pyre-w2",
         "uvicorn-w2", "rps", ">=", 2.0),
    ]
    for scenario in scenarios.split()
]
# fmt: on
# Each of issue 12's goals again for the compiled build, which a published wheel would be.
GOALS += [
    replace(goal, text=f"{goal.text} (compiled)", target=f"{goal.target}-compiled")
    for goal in GOALS
    if goal.issue == 12 and goal.target in COMPILED
]
COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le}
CPU_GOAL_ISSUES = {12, 15}
"""Issues whose ratio goals hold by CPU time per request too (issue 10's measure scaling, not cost)."""


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
                "http": target.http,
                "tls": target.tls,
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
                "http": scenario.http,
                "streams": scenario.streams,
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
        if target.family not in ("raw", *ONE_CORE_EXCLUDED) and starlette:
            result["x_starlette"] = rps / starlette


def is_pyre(target: Mapping[str, Any]) -> bool:
    """Served by pyre-server, or Pyre's framework wherever it runs."""
    return bool(target["server"] == "pyre" or target["family"] == "pyre-framework")


def best(
    results: Mapping[str, Any], names: set[str], metric: str, lowest: bool = False
) -> tuple[str, float] | None:
    """The target among ``names`` with the highest (or ``lowest``) median of ``metric``."""
    values = {name: value for name in names if (value := median(results, name, metric))}
    if not values:
        return None
    chosen = (min if lowest else max)(values, key=values.__getitem__)
    return chosen, values[chosen]


def candidates(spec: str, targets: list[dict[str, Any]]) -> set[str]:
    """The targets a goal's side may pick from: :data:`PYRE_BEST` or :data:`PEER_BEST`, or names."""
    if spec in (PYRE_BEST, PEER_BEST):
        one_core = [t for t in targets if t["family"] not in ONE_CORE_EXCLUDED]
        return {t["name"] for t in one_core if is_pyre(t) == (spec == PYRE_BEST)}
    return set(spec.split()) & {t["name"] for t in targets}


def picks(goal: Mapping[str, Any]) -> bool:
    """Whether a goal's side is a choice among several targets (the report then names the chosen)."""
    return any(side in (PYRE_BEST, PEER_BEST) or " " in side for side in (goal["target"], goal["versus"]))


def goal_ratio(
    goal: Goal, results: Mapping[str, Any], targets: list[dict[str, Any]], metric: str
) -> tuple[float, str, str] | None:
    """The goal's ratio by ``metric`` (``rps``, ``p99_ms`` or ``cpu_us``), oriented so that the
    threshold reads the same way for each, with the two targets it compares (each side's best by
    that metric); None if unmeasured."""
    lowest = metric != "rps"  # less latency, less CPU per request is better
    mine = best(results, candidates(goal.target, targets), metric, lowest)
    theirs = best(results, candidates(goal.versus, targets), metric, lowest)
    if mine is None or theirs is None:
        return None
    (mine_name, mine_value), (theirs_name, theirs_value) = mine, theirs
    value = theirs_value / mine_value if metric == "cpu_us" else mine_value / theirs_value
    return value, mine_name, theirs_name


def verdict(goal: Goal, value: float) -> str:
    return "met" if COMPARE[goal.comparison](value, goal.threshold) else "NOT MET"


def check_goals(document: dict[str, Any]) -> list[dict[str, Any]]:
    by_name = {scenario["name"]: scenario["results"] for scenario in document["scenarios"]}
    targets = document["targets"]
    checked = []
    for goal in GOALS:
        if goal.scenario not in by_name:
            continue
        if not (candidates(goal.target, targets) and candidates(goal.versus, targets)):
            continue  # a side none of whose targets this run selected
        entry: dict[str, Any] = asdict(goal)
        results = by_name[goal.scenario]
        found = goal_ratio(goal, results, targets, goal.metric)
        if found is None:
            entry["verdict"] = "not measured"
        else:
            entry["ratio"], entry["compared"] = found[0], found[1:]
            entry["verdict"] = verdict(goal, found[0])
        if goal.metric == "rps" and goal.issue in CPU_GOAL_ISSUES:
            by_cpu = goal_ratio(goal, results, targets, "cpu_us")
            if by_cpu is None:
                entry["cpu_verdict"] = "not measured"
            else:
                entry["cpu_ratio"], entry["cpu_compared"] = by_cpu[0], by_cpu[1:]
                entry["cpu_verdict"] = verdict(goal, by_cpu[0])
        checked.append(entry)
    return checked


# Markdown

COLUMNS = (
    "Median of the repetitions; the spread is the fastest and slowest repetition. "
    "p50, p99 and p99.9 are latency percentiles in ms. "
    "CPU µs/req is the server's CPU time (user + system, its whole process group: workers and "
    "threads included) during the timed window, divided by the requests answered in it: the cost of "
    "a request, which other work on the machine does not inflate the way it cuts requests/s. "
    "x uvicorn divides a row's requests/s by the same app on uvicorn (the raw ASGI app for the raw "
    "apps, the same framework's app for a framework); in the HTTP/2 tables, x hypercorn divides by "
    "the raw ASGI app on hypercorn over the same transport. "
    "x Starlette divides a framework's row by Starlette on uvicorn. "
    "CPU server / load is the CPU time the server and the load generator used per second of load. "
    "Loopback network processing in softirq context is charged to neither, so a saturated fast "
    "server shows well under 100%; compare rows within a run: a row far below servers of its kind "
    "had its core taken by other work."
)


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def result_row(label: str, result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"| {label} | {result['status']} |{' |' * 8} {escape(result.get('reason', ''))} |"
    rps = result["rps"]
    errors = ", ".join(f"{count} {name}" for name, count in result.get("errors", {}).items())
    cells = [
        label,
        f"**{number(rps['median'])}**",
        f"{number(rps['min'])} - {number(rps['max'])}",
        latency(result, "p50_ms"),
        latency(result, "p99_ms"),
        latency(result, "p999_ms"),
        f"{result['cpu_us']['median']:.1f}" if "cpu_us" in result else "n/a",
        ratio(result.get("x_uvicorn")),
        ratio(result.get("x_starlette")),
        f"{result['server_cpu']['median']:.0%} / {result['load_cpu']['median']:.0%}",
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
    versus = "x hypercorn" if scenario["group"] == "http2" else "x uvicorn"
    lines = [f"### {scenario['name']}", "", f"{scenario['description']}.", ""]
    lines += [
        f"| target | req/s (median) | min - max | p50 | p99 | p99.9 | CPU µs/req | {versus} | x Starlette "
        "| CPU server / load | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    lines += [result_row(labels[name], result) for name, result in ranked]
    return [*lines, ""]


def goal_cell(goal: dict[str, Any], prefix: str = "") -> tuple[str, str]:
    """The measured ratio (naming the targets when the goal picked them) and the verdict."""
    verdict_key = f"{prefix}verdict"
    if verdict_key not in goal:
        return "", ""
    measured = ratio(goal.get(f"{prefix}ratio"))
    if picks(goal) and f"{prefix}compared" in goal:
        mine, theirs = goal[f"{prefix}compared"]
        measured += f" (`{mine}` / `{theirs}`)"
    return measured, goal[verdict_key]


def goals_table(document: dict[str, Any]) -> list[str]:
    lines = [
        "Each goal is checked by requests/s (p99 latency for a latency goal) and, where it is a ratio, "
        "by the server's CPU time per request as well: the other target's CPU µs per request over "
        "Pyre's, so that both ratios read 'times better' against the same threshold. A goal on "
        "Pyre's best target compares the best of Pyre's targets with the best peer, each chosen by the "
        "column's own measure (one-core, cleartext HTTP/1.1 targets).",
        "",
        "| issue | goal | scenario | measured | verdict | by CPU µs/request | verdict |",
        "|---|---|---|--:|---|--:|---|",
    ]
    for goal in document["goals"]:
        cells = [
            f"#{goal['issue']}",
            goal["text"],
            goal["scenario"],
            *goal_cell(goal),
            *goal_cell(goal, "cpu_"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def fastest_table(document: dict[str, Any]) -> list[str]:
    """Per scenario: the fastest target, and how close the fastest one on pyre-server came."""
    on_pyre = {target["name"] for target in document["targets"] if target["server"] == "pyre"}
    one_core = {t["name"] for t in document["targets"] if t["family"] not in ONE_CORE_EXCLUDED - {H2C_FAMILY}}
    lines = [
        "The fastest target of each scenario, and the fastest on pyre-server as a fraction of it "
        "(one-core targets; HTTP/2 over h2c). Where that is not pyre-server, "
        "[the analysis](analysis.md) gives the reason profiling found.",
        "",
        "| scenario | fastest | req/s | CPU µs/req | fastest on pyre-server | req/s | CPU µs/req "
        "| fraction |",
        "|---|---|--:|--:|---|--:|--:|--:|",
    ]
    for scenario in document["scenarios"]:
        results = scenario["results"]
        fastest = best(results, one_core & results.keys(), "rps")
        if fastest is None:
            continue
        cells = [scenario["name"], f"`{fastest[0]}`", number(fastest[1]), cpu_cell(results, fastest[0])]
        mine = best(results, one_core & on_pyre & results.keys(), "rps")
        if mine is None:
            cells += ["", "", "", ""]
        else:
            cells += [
                f"`{mine[0]}`",
                number(mine[1]),
                cpu_cell(results, mine[0]),
                ratio(mine[1] / fastest[1]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def cpu_cell(results: Mapping[str, Any], name: str) -> str:
    value = median(results, name, "cpu_us")
    return "" if value is None else f"{value:.1f}"


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


GROUPS = {
    "main": "",
    "pipelining": "## Pipelining\n\nRequests/s counts responses; each batch holds 16 requests.\n",
    "http2": (
        "## HTTP/2\n\nh2load (one thread, pinned like wrk) against each server over h2c (prior "
        "knowledge) and over TLS (ALPN h2), the raw apps of the tables above; requests/s counts "
        "successful responses, the percentiles come from h2load's per-request log. x hypercorn "
        "divides by the raw ASGI app on hypercorn over the same transport.\n"
    ),
}


def markdown_tables(document: dict[str, Any]) -> str:
    labels = {target["name"]: f"{target['label']} (`{target['name']}`)" for target in document["targets"]}
    lines = ["## Goals", "", *goals_table(document)] if document["goals"] else []
    if document["scenarios"]:
        lines += ["## Fastest per scenario", "", *fastest_table(document)]
    lines += ["## Results", "", COLUMNS, ""]
    for group, heading in GROUPS.items():
        scenarios = [s for s in document["scenarios"] if s["group"] == group]
        if heading and scenarios:
            lines += [heading]
        for scenario in scenarios:
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
        f"- CPU: {machine['cpu']}; {machine['cores']} cores; servers on core {settings['server_core']}, "
        f"the load generator on core {settings['load_core']}",
        f"- {machine['kernel']}; {machine['python']}; {machine['wrk']}; {machine.get('h2load', 'no h2load')}",
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
    charts = {}
    for name, draw in (("results.png", draw_chart), ("latency.png", draw_latency_chart)):
        chart = output / name
        chart.unlink(missing_ok=True)  # never show a chart from an earlier run
        if draw(document, chart):
            charts[name] = chart
    page = output / "index.md"
    page.write_text(page_text(document, tables, set(charts)))
    return [*written, *charts.values(), page]


PYRE_COLOUR = "#d9480f"
PEER_COLOUR = "#868e96"
LATENCY_SCENARIOS = ("plaintext", "json", "user-id", "post-json", "concurrency-256", "h2-streams-10")
"""The latency chart's panels: the main request shapes, a crowd, and HTTP/2."""
PERCENTILE_COLOURS = {"p50_ms": "#ffd8a8", "p90_ms": "#ffa94d", "p99_ms": "#f76707", "p999_ms": "#a61e4d"}


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no charts (nox -s bench installs it)", file=sys.stderr)
        return None
    return plt


def ok_results(scenario: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    """The scenario's measured targets, in ascending order of the median of ``key``."""
    ok = [(name, r) for name, r in scenario["results"].items() if r["status"] == "ok" and key in r]
    return sorted(ok, key=lambda item: float(item[1][key]["median"]))


def is_pyre_name(document: dict[str, Any], name: str) -> bool:
    return any(is_pyre(target) for target in document["targets"] if target["name"] == name)


def panel_grid(
    plt: Any, bar_rows: list[int], columns: int, row_inches: float
) -> tuple[Any, list[Any], float]:
    """A figure with one panel per entry of ``bar_rows`` (its number of bars), each grid row as
    tall as its most crowded panel needs."""
    rows = -(-len(bar_rows) // columns)
    tallest = [max(bar_rows[row * columns : (row + 1) * columns]) for row in range(rows)]
    height = sum(row_inches * bars + 1.2 for bars in tallest) + 0.8
    figure, axes = plt.subplots(
        rows, columns, figsize=(6.5 * columns, height), gridspec_kw={"height_ratios": tallest}, squeeze=False
    )
    return figure, list(axes.flat), height


def finish(
    plt: Any, figure: Any, axes: list[Any], used: int, title: str, height: float, path: pathlib.Path
) -> None:
    for axis in axes[used:]:
        axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))  # room for the title
    figure.savefig(path, dpi=90)
    plt.close(figure)


def draw_chart(document: dict[str, Any], path: pathlib.Path) -> bool:
    """Requests/s per scenario and target, each bar labelled with the server's CPU µs per request."""
    plt = pyplot()
    panels = [(s, ok_results(s, "rps")) for s in document["scenarios"]]
    panels = [(scenario, ok) for scenario, ok in panels if ok]
    if plt is None or not panels:
        return False
    columns = min(3, len(panels))
    figure, axes, height = panel_grid(plt, [len(ok) for _, ok in panels], columns, 0.3)
    for axis, (scenario, ok) in zip(axes, panels, strict=False):
        medians = [r["rps"]["median"] for _, r in ok]
        low = [r["rps"]["median"] - r["rps"]["min"] for _, r in ok]
        high = [r["rps"]["max"] - r["rps"]["median"] for _, r in ok]
        colours = [PYRE_COLOUR if is_pyre_name(document, name) else PEER_COLOUR for name, _ in ok]
        bars = axis.barh([name for name, _ in ok], medians, xerr=[low, high], color=colours)
        cpu = [f" {r['cpu_us']['median']:.1f} µs" if "cpu_us" in r else "" for _, r in ok]
        axis.bar_label(bars, cpu, fontsize=7, padding=2)
        axis.set_xlim(0, max(r["rps"]["max"] for _, r in ok) * 1.25)  # room for the labels
        axis.set_title(f"{scenario['name']} (c={scenario['connections']})", fontsize=10)
        axis.set_xlabel("requests/s (label: server CPU µs per request)")
        axis.tick_params(labelsize=8)
    title = f"Pyre benchmarks ({document['mode']} mode), one core per server; orange: Pyre"
    finish(plt, figure, axes, len(panels), title, height, path)
    return True


def plain_numbers(plt: Any, leading_digits: tuple[int, ...]) -> Any:
    """A tick formatter labelling only the ticks whose value starts with one of ``leading_digits``."""

    def label(value: float, position: int) -> str:
        text = f"{value:g}"
        return text if int(text.lstrip("0.")[:1] or 0) in leading_digits else ""

    return plt.FuncFormatter(label)


def draw_latency_chart(document: dict[str, Any], path: pathlib.Path) -> bool:
    """Latency percentiles (p50, p90, p99, p99.9) per target for the main scenarios, log scale."""
    plt = pyplot()
    chosen = [s for s in document["scenarios"] if s["name"] in LATENCY_SCENARIOS]
    panels = [(scenario, ok) for scenario in chosen if (ok := ok_results(scenario, "p99_ms"))]
    if plt is None or not panels:
        return False
    columns = min(2, len(panels))
    figure, axes, height = panel_grid(plt, [len(ok) for _, ok in panels], columns, 0.45)
    bar = 0.8 / len(PERCENTILES)
    for axis, (scenario, ok) in zip(axes, panels, strict=False):
        for index, (key, label) in enumerate(zip(PERCENTILES, ("p50", "p90", "p99", "p99.9"), strict=True)):
            positions = [row + (index - 1.5) * bar for row in range(len(ok))]
            values = [r[key]["median"] if key in r else 0.0 for _, r in ok]
            axis.barh(positions, values, height=bar, color=PERCENTILE_COLOURS[key], label=label)
        axis.set_yticks(range(len(ok)), [name for name, _ in ok])
        for tick, (name, _) in zip(axis.get_yticklabels(), ok, strict=True):
            tick.set_color(PYRE_COLOUR if is_pyre_name(document, name) else "black")
        axis.invert_yaxis()
        axis.set_xscale("log")
        shortest = min(r["p50_ms"]["median"] for _, r in ok if "p50_ms" in r)
        axis.set_xlim(left=shortest / 1.5)
        # Plain numbers (1, 2, 5, 10, 20 ...) rather than powers of ten.
        axis.xaxis.set_major_formatter(plain_numbers(plt, (1,)))
        axis.xaxis.set_minor_formatter(plain_numbers(plt, (2, 5)))
        axis.set_title(f"{scenario['name']} (c={scenario['connections']})", fontsize=10)
        axis.set_xlabel("latency, ms (log scale)")
        axis.tick_params(labelsize=8, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncols=len(PERCENTILES), fontsize=8)
    title = f"Latency percentiles ({document['mode']} mode), one core per server; orange names: Pyre"
    finish(plt, figure, axes, len(panels), title, height, path)
    return True


PAGE_INTRO = """\
# Benchmarks

Pyre's speed claims are ratios measured side by side, in one run, on one
machine: absolute numbers mean little on a shared machine, a ratio to uvicorn
measured seconds apart on the same cores means a lot. Beside requests/s, every
row gives the server's CPU time per request, which other work on the machine
does not distort the way it cuts requests/s.

## Method

- Every server runs one worker process pinned to one core (`taskset -c 0`);
  the load generator (`wrk`, or `h2load` for HTTP/2; one thread) is pinned to
  the other core. The `-w2` targets run two worker processes
  (`--workers 2`), not pinned: they share the machine's cores with `wrk`,
  and their "x uvicorn" divides by uvicorn with two workers. Access logs are
  off, keep-alive timeouts are 120 s and listen backlogs 4096 wherever a
  server has the option; granian runs HTTP/1 only outside the HTTP/2 family.
  The exact command lines are in `benchmarks/targets.py`.
- Before a case is timed, its request is sent for real and the status and
  body are checked (twice on one connection, or as a pipelined batch, or
  with the connection closed, as the case requires; over HTTP/2 with httpx,
  which must have spoken HTTP/2). A fast wrong answer is reported as
  *wrong*, never timed. Under load, any 4xx or 5xx response fails the case.
- Each case has a warm-up, then repetitions that go round every server in a
  rotated order, so drift during the run falls on every server alike. The
  tables give the median and the fastest and slowest repetition; latency
  percentiles are exact: wrk's own, from its Lua `done()` hook, and for
  HTTP/2 computed from h2load's per-request log.
- CPU per request: the user + system CPU time of the server's whole process
  group (its workers and threads, and workers that exited, included), read
  from `/proc` just before and just after the load generator runs, divided by
  the requests answered in that window.
- Servers: pyre-server (a native pyre-spec app, and a raw ASGI app through
  `pyre.asgi.from_asgi`), uvicorn with httptools and uvloop, granian (RSGI
  and ASGI), hypercorn with uvloop, each serving the same hand-written app.
  Frameworks: pyre-framework on pyre-server (and through `to_asgi` on
  uvicorn); Starlette and FastAPI on uvicorn, granian and pyre-server;
  Litestar and BlackSheep on uvicorn and pyre-server; Falcon on uvicorn. The
  apps live in `benchmarks/apps/` and all do the same work.
- Memory: each server freshly started; a client pinned to the load core opens
  10,000 connections, makes one request on each and leaves them idle; the
  server's resident memory (its whole process group) is read from `/proc`.

## The compiled build

A source install of pyre-server and pyre-asgi is pure Python; with
`PYRE_SERVER_COMPILE=1` and `PYRE_ASGI_COMPILE=1` their per-request modules are
compiled by mypyc, as a published wheel would be. `nox -s bench` builds those
wheels into a second venv and serves the `-compiled` targets from it
(`pyre-compiled`, `pyre-asgi-compiled`, `pyre-framework-compiled`,
`starlette-pyre-compiled`, `fastapi-pyre-compiled`: the same apps, in the same
families as their pure twins), so both builds are measured side by side; each of
issue #12's goals is judged for both.

## The HTTP/2 family

The scenarios `h2-streams-1`, `h2-streams-10` and `h2-streams-100` are
driven by `h2load` (nghttp2's load generator: one thread, pinned like wrk)
instead of wrk: `GET /plaintext` over 16 connections, with 1, 10 or 100
concurrent streams on each. They run against their own targets, the raw apps
of the tables above served over HTTP/2 only:

- `*-h2c`: cleartext HTTP/2 by prior knowledge; `*-h2-tls`: TLS, with ALPN
  `h2` (the same trustme certificate for every server).
- pyre-server with `--http 2` (the native app, and the raw ASGI app through
  `from_asgi`); hypercorn, which serves HTTP/2 without a flag; granian with
  `--http 2` (RSGI and ASGI). uvicorn has no HTTP/2, so these tables divide by
  the raw ASGI app on hypercorn over the same transport ("x hypercorn").
- Each answer is checked first with httpx (`http2=True`), which must have
  spoken HTTP/2, and h2load's own report must name `h2` or `h2c` as the
  protocol it used. Requests/s counts successful responses; the percentiles
  are computed from h2load's per-request log (`--log-file`).

## Columns

- **req/s (median)**, **min - max**: requests answered per second, the
  median repetition, and the slowest and fastest one.
- **p50, p99, p99.9**: latency percentiles in ms (the latency chart adds
  p90); none for pipelining, where wrk times batches, not requests.
- **CPU µs/req**: the server's CPU time per request, in µs; lower is cheaper.
- **x uvicorn**: requests/s over the same app on uvicorn: the raw ASGI app
  for the raw apps, the same framework's app for a framework (so
  `starlette-granian` divides by `starlette`). **x hypercorn**, in the
  HTTP/2 tables: over the raw ASGI app on hypercorn, same transport.
- **x Starlette**: a framework's requests/s over Starlette on uvicorn.
- **CPU server / load**: CPU time the server and the load generator used
  per second of load. A server well below its peers had its core taken by
  other work; a load generator near 100% set the pace itself.

## Running it

```console
$ nox -s bench -- --quick       # every case, 2 x 1 s each: ~25 min on 2 cores
$ nox -s bench                  # full mode (warm-up, 3 x 5 s each): ~95 min; writes this page
$ nox -s bench -- --quick --only plaintext --servers pyre,uvicorn,granian-rsgi
$ nox -s bench -- --quick --only 'h2-*'    # the HTTP/2 family alone
$ nox -s bench -- --list        # scenarios, targets and the estimated durations
```

nox needs the `--` before the suite's own options. Inside the bench venv,
`python -m benchmarks` takes the same options. Every run prints its
estimated duration first. Quick runs write their report under
`benchmarks/.work/quick/` unless given `--output`. The suite installs `wrk`
and `h2load` (Debian's `wrk` and `nghttp2-client`) with apt-get when it runs
as root and they are missing; without h2load, the HTTP/2 cases say
*unavailable*.

"""


def page_text(document: dict[str, Any], tables: str, charts: set[str]) -> str:
    parts = [PAGE_INTRO]
    if document["mode"] != "full":
        settings = document["settings"]
        parts.append(
            '!!! warning "Quick-mode numbers"\n    These numbers come from a quick run '
            f"({settings['repetitions']} x {settings['seconds']:g} s per case): indicative only.\n\n"
        )
    parts.append("\n".join(environment_section(document)) + "\n")
    if "results.png" in charts:
        parts.append(
            "![Requests per second per scenario and target, labelled with CPU µs per request]"
            "(results.png)\n\n"
        )
    if "latency.png" in charts:
        parts.append("![Latency percentiles p50, p90, p99 and p99.9 per target](latency.png)\n\n")
    parts.append(
        "Machine-readable: [results.json](results.json); tables alone: [results.md](results.md).\n\n"
    )
    parts.append(tables + "\n")
    return "".join(parts)
