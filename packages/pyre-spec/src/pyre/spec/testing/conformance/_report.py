"""The conformance report: outcomes per assertion ID and level, as a text table."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

OUTCOMES = ("passed", "failed", "xfailed", "skipped")


def _natural(assertion: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)(\d+)", assertion)
    return (match[1], int(match[2])) if match else (assertion, 0)


@dataclass
class Results:
    """Outcomes of conformance cases, by case id."""

    outcomes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """case id -> (assertion, level, outcome)"""

    def record(self, case_id: str, assertion: str, level: str, outcome: str) -> None:
        previous = self.outcomes.get(case_id)
        if previous is not None and previous[2] == "failed":
            return
        self.outcomes[case_id] = (assertion, level, outcome)

    def table(self) -> str:
        rows: dict[tuple[str, str], Counter[str]] = {}
        by_level: dict[str, Counter[str]] = {}
        for assertion, level, outcome in self.outcomes.values():
            rows.setdefault((assertion, level), Counter())[outcome] += 1
            by_level.setdefault(level, Counter())[outcome] += 1
        header = f"{'assertion':<16}{'level':<8}" + "".join(f"{name:>9}" for name in OUTCOMES)
        lines = [header, "-" * len(header)]
        for (assertion, level), counts in sorted(rows.items(), key=lambda item: _natural(item[0][0])):
            lines.append(f"{assertion:<16}{level:<8}" + "".join(f"{counts[name]:>9}" for name in OUTCOMES))
        lines.append("-" * len(header))
        for level in ("MUST", "SHOULD", "MAY"):
            if level in by_level:
                counts = by_level[level]
                lines.append(f"{'all ' + level:<24}" + "".join(f"{counts[name]:>9}" for name in OUTCOMES))
        return "\n".join(lines)
