"""Which assertion of the document the suite checks: one row per server-bound ID.

``INDEX`` is the kit's copy of the document's assertion index (Appendix A of
docs/spec/index.md, which is not shipped in the wheel): ID -> (level, party).
pyre-spec's own tests parse the document's text with ``parse_index`` and fail when
the two differ, so the copy cannot drift.

An ID binding servers is *covered* when a registered case names it; that is
computed from the cases, never declared.  Every other server-bound ID is
declared in ``NOT_COVERED`` with its status and the reason:

``validator-only``
    the run-time validator (``pyre.spec.testing.validate``) checks it, but no
    exchange over the wire can observe it;
``untestable``
    nothing outside the server can tell it apart from a violation;
``missing``
    a gap in the kit, named so the report shows it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ._cases import Case

INDEX: Final[dict[str, tuple[str, str]]] = {
    "PYRE-APP-1": ("MUST", "application"),
    "PYRE-APP-2": ("MUST", "server"),
    "PYRE-APP-3": ("MUST", "server"),
    "PYRE-APP-4": ("MUST", "server"),
    "PYRE-APP-5": ("MUST", "server"),
    "PYRE-APP-6": ("MAY", "server"),
    "PYRE-APP-7": ("SHOULD", "application"),
    "PYRE-APP-8": ("MUST", "application"),
    "PYRE-APP-9": ("MUST", "server"),
    "PYRE-REQ-1": ("MUST", "server"),
    "PYRE-REQ-2": ("MUST", "server"),
    "PYRE-REQ-3": ("MUST", "server"),
    "PYRE-REQ-4": ("MUST", "server"),
    "PYRE-REQ-5": ("MUST", "server"),
    "PYRE-REQ-6": ("MUST", "server"),
    "PYRE-REQ-7": ("MUST", "server"),
    "PYRE-REQ-8": ("MUST", "server"),
    "PYRE-REQ-9": ("MUST", "server"),
    "PYRE-REQ-10": ("MUST", "server"),
    "PYRE-REQ-11": ("MUST", "server"),
    "PYRE-REQ-12": ("MUST", "server"),
    "PYRE-REQ-13": ("MUST", "server"),
    "PYRE-REQ-14": ("MUST", "server"),
    "PYRE-REQ-15": ("MUST", "server"),
    "PYRE-REQ-16": ("MUST", "server"),
    "PYRE-REQ-17": ("MUST", "server"),
    "PYRE-REQ-18": ("SHOULD", "server"),
    "PYRE-REQ-19": ("MUST", "server"),
    "PYRE-REQ-20": ("MUST", "application"),
    "PYRE-REQ-21": ("MUST", "application"),
    "PYRE-REQ-22": ("MUST", "server"),
    "PYRE-REQ-23": ("MUST", "server"),
    "PYRE-REQ-24": ("MUST", "server"),
    "PYRE-REQ-25": ("MUST", "server"),
    "PYRE-REQ-26": ("MUST", "server"),
    "PYRE-REQ-27": ("MUST", "server"),
    "PYRE-REQ-28": ("MUST", "server"),
    "PYRE-HDR-1": ("MUST", "server"),
    "PYRE-HDR-2": ("MUST", "server"),
    "PYRE-HDR-3": ("MUST", "Headers"),
    "PYRE-HDR-4": ("MUST", "Headers"),
    "PYRE-HDR-5": ("MUST", "server"),
    "PYRE-HDR-6": ("SHOULD", "server"),
    "PYRE-HDR-7": ("MUST", "server"),
    "PYRE-HDR-8": ("MUST", "server"),
    "PYRE-HDR-9": ("MAY", "server"),
    "PYRE-HDR-10": ("SHOULD", "server"),
    "PYRE-BODY-1": ("MUST", "server"),
    "PYRE-BODY-2": ("MUST", "server"),
    "PYRE-BODY-3": ("MUST", "server"),
    "PYRE-BODY-4": ("MUST", "server"),
    "PYRE-BODY-5": ("MUST", "server"),
    "PYRE-BODY-6": ("MUST", "server"),
    "PYRE-BODY-7": ("MUST", "server"),
    "PYRE-BODY-8": ("MAY", "server"),
    "PYRE-BODY-9": ("MUST", "server"),
    "PYRE-BODY-10": ("MUST", "server"),
    "PYRE-BODY-11": ("MUST", "server"),
    "PYRE-BODY-12": ("MUST", "server"),
    "PYRE-BODY-13": ("SHOULD", "server"),
    "PYRE-BODY-14": ("MUST", "server"),
    "PYRE-BODY-15": ("SHOULD", "server"),
    "PYRE-BODY-16": ("MUST", "server"),
    "PYRE-BODY-17": ("MUST", "server"),
    "PYRE-BODY-18": ("MUST", "server"),
    "PYRE-BODY-19": ("MUST", "server"),
    "PYRE-BODY-20": ("SHOULD", "application"),
    "PYRE-RESP-1": ("MUST", "application"),
    "PYRE-RESP-2": ("MUST", "application"),
    "PYRE-RESP-3": ("MUST", "application"),
    "PYRE-RESP-4": ("MUST", "application"),
    "PYRE-RESP-5": ("MUST", "application"),
    "PYRE-RESP-6": ("SHOULD", "application"),
    "PYRE-RESP-7": ("MUST", "server"),
    "PYRE-RESP-8": ("MUST", "server"),
    "PYRE-RESP-9": ("MAY", "server"),
    "PYRE-RESP-10": ("MUST", "application"),
    "PYRE-RESP-11": ("MUST", "application"),
    "PYRE-RESP-12": ("MUST", "server"),
    "PYRE-RESP-13": ("SHOULD", "server"),
    "PYRE-RESP-14": ("MUST", "application"),
    "PYRE-RESP-15": ("MUST", "server"),
    "PYRE-RESP-16": ("SHOULD", "application"),
    "PYRE-RESP-17": ("MUST", "application"),
    "PYRE-RESP-18": ("MUST", "server"),
    "PYRE-RESP-19": ("MUST", "server"),
    "PYRE-RESP-20": ("SHOULD", "server"),
    "PYRE-RESP-21": ("MUST", "server"),
    "PYRE-RESP-22": ("MUST", "server"),
    "PYRE-RESP-23": ("MUST", "server"),
    "PYRE-RESP-24": ("SHOULD", "application"),
    "PYRE-RESP-25": ("SHOULD", "server"),
    "PYRE-RESP-26": ("MUST", "server"),
    "PYRE-FRAME-1": ("MUST", "server"),
    "PYRE-FRAME-2": ("MUST", "application"),
    "PYRE-FRAME-3": ("MUST", "server"),
    "PYRE-FRAME-4": ("MUST", "server"),
    "PYRE-FRAME-5": ("MUST", "both"),
    "PYRE-FRAME-6": ("MUST", "server"),
    "PYRE-FRAME-7": ("MUST", "server"),
    "PYRE-FRAME-8": ("MUST", "server"),
    "PYRE-FRAME-9": ("SHOULD", "server"),
    "PYRE-FRAME-10": ("MUST", "server"),
    "PYRE-FRAME-11": ("MUST", "server"),
    "PYRE-FRAME-12": ("MUST", "server"),
    "PYRE-FRAME-13": ("MUST", "server"),
    "PYRE-FRAME-14": ("MUST", "server"),
    "PYRE-FRAME-15": ("MUST", "server"),
    "PYRE-FRAME-16": ("MUST", "server"),
    "PYRE-LIFE-1": ("MAY", "application"),
    "PYRE-LIFE-2": ("MUST", "application"),
    "PYRE-LIFE-3": ("MUST", "server"),
    "PYRE-LIFE-4": ("MUST", "server"),
    "PYRE-LIFE-5": ("MUST", "server"),
    "PYRE-LIFE-6": ("MUST", "server"),
    "PYRE-LIFE-7": ("MUST", "server"),
    "PYRE-LIFE-8": ("MUST", "server"),
    "PYRE-ERR-1": ("MUST", "server"),
    "PYRE-ERR-2": ("MUST", "server"),
    "PYRE-ERR-3": ("MUST", "server"),
    "PYRE-ERR-4": ("MUST", "server"),
    "PYRE-ERR-5": ("SHOULD", "server"),
    "PYRE-ERR-6": ("MUST", "server"),
    "PYRE-ERR-7": ("MUST", "server"),
    "PYRE-ERR-8": ("MUST", "server"),
    "PYRE-UPG-1": ("MUST", "application"),
    "PYRE-UPG-2": ("MUST", "application"),
    "PYRE-UPG-3": ("MUST", "server"),
    "PYRE-UPG-4": ("MUST", "server"),
    "PYRE-UPG-5": ("MUST", "server"),
    "PYRE-UPG-6": ("MUST", "server"),
    "PYRE-UPG-7": ("MUST", "server"),
    "PYRE-UPG-8": ("MUST", "application"),
    "PYRE-UPG-9": ("MUST", "server"),
    "PYRE-WS-1": ("MUST", "server"),
    "PYRE-WS-2": ("MUST", "server"),
    "PYRE-WS-3": ("MUST", "server"),
    "PYRE-WS-4": ("MUST", "application"),
    "PYRE-WS-5": ("MUST", "server"),
    "PYRE-WS-6": ("SHOULD", "server"),
    "PYRE-VER-1": ("MUST", "server"),
    "PYRE-VER-2": ("MUST", "server"),
    "PYRE-VER-3": ("MUST", "application"),
    "PYRE-VER-4": ("MUST", "both"),
    "PYRE-VER-5": ("MUST", "all"),
    "PYRE-VER-6": ("MUST", "server"),
    "PYRE-WIRE-1": ("SHOULD", "server"),
    "PYRE-WIRE-2": ("SHOULD", "server"),
    "PYRE-WIRE-3": ("SHOULD", "server"),
    "PYRE-WIRE-4": ("SHOULD", "server"),
    "PYRE-WIRE-5": ("MUST", "server"),
    "PYRE-WIRE-6": ("SHOULD", "server"),
    "PYRE-WIRE-7": ("MUST", "server"),
    "PYRE-WIRE-8": ("MAY", "server"),
    "PYRE-WIRE-9": ("MAY", "server"),
}
"""ID -> (level, party) for every assertion of the document, in its order."""

SERVER_PARTIES: Final = frozenset({"server", "both", "all"})
"""The parties of the index that bind a server."""

VALIDATOR_ONLY: Final = "validator-only"
UNTESTABLE: Final = "untestable"
COVERED: Final = "covered"
MISSING: Final = "missing"

NOT_COVERED: Final[dict[str, tuple[str, str]]] = {
    "PYRE-APP-6": (
        UNTESTABLE,
        "an option invisible on the wire; what it must keep is PYRE-APP-4 and PYRE-APP-5, which have cases",
    ),
    "PYRE-BODY-8": (
        UNTESTABLE,
        "an option: answering 413 before calling the app looks like an app that raised at once "
        "(PYRE-BODY-7's over-limit cases accept both)",
    ),
    "PYRE-RESP-20": (UNTESTABLE, "sendfile and a copy through Python put the same bytes on the wire"),
    "PYRE-RESP-25": (UNTESTABLE, "TCP keeps no write boundaries: a client cannot count the server's writes"),
    "PYRE-LIFE-4": (
        VALIDATOR_ONLY,
        "shutdown happens after the suite's last exchange with the server; validate() raises PYRE-LIFE-4 "
        "when the app is called after shutdown began or shutdown begins with requests running",
    ),
    "PYRE-LIFE-5": (
        VALIDATOR_ONLY,
        "lifespan exit is not observable over HTTP; validate() raises PYRE-LIFE-5 when it runs in "
        "another Task than startup",
    ),
    "PYRE-LIFE-7": (UNTESTABLE, "what a server logs at shutdown is not observable over HTTP"),
    "PYRE-LIFE-8": (
        UNTESTABLE,
        "the suite's apps coordinate through module state, so it runs a server with one process",
    ),
    "PYRE-ERR-5": (UNTESTABLE, "what a server logs is not observable over HTTP"),
    **dict.fromkeys(
        ("PYRE-REQ-26", "PYRE-REQ-27", "PYRE-REQ-28", "PYRE-RESP-26", "PYRE-FRAME-16", "PYRE-ERR-8"),
        (MISSING, "an HTTP/2 requirement: the suite speaks HTTP/1.1 only"),
    ),
    "PYRE-WS-6": (
        MISSING,
        "a server's message-size bound is its own and not declared to the suite (Limits has none)",
    ),
}
"""ID -> (status, reason) for the server-bound IDs no case covers."""


@dataclass(frozen=True)
class Coverage:
    """How the suite covers one server-bound assertion."""

    assertion: str
    level: str
    status: str
    """``covered``, ``validator-only``, ``untestable``, or ``missing`` (a gap in the kit)."""
    reason: str = ""
    cases: tuple[str, ...] = ()


def server_bound() -> list[str]:
    """The IDs of the index that bind a server, in the document's order."""
    return [ident for ident, (_, party) in INDEX.items() if party in SERVER_PARTIES]


def coverage(cases: Iterable[Case]) -> list[Coverage]:
    """One row per server-bound ID: covered by ``cases``, or declared, or missing."""
    by_assertion: dict[str, list[str]] = {}
    for case in cases:
        by_assertion.setdefault(case.assertion, []).append(case.id)
    rows = []
    for ident in server_bound():
        level = INDEX[ident][0]
        if ident in by_assertion:
            rows.append(Coverage(ident, level, COVERED, cases=tuple(by_assertion[ident])))
        elif ident in NOT_COVERED:
            status, reason = NOT_COVERED[ident]
            rows.append(Coverage(ident, level, status, reason))
        else:
            rows.append(Coverage(ident, level, MISSING, "no case and no declared reason"))
    return rows


def coverage_table(rows: list[Coverage], outcomes: dict[str, str] | None = None) -> str:
    """The coverage report: counts per status, then one line per server-bound ID.

    ``outcomes`` (case id -> outcome) adds what the run's cases of each covered ID did.
    """
    counts = dict.fromkeys((COVERED, VALIDATOR_ONLY, UNTESTABLE, MISSING), 0)
    for row in rows:
        counts[row.status] += 1
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    lines = [f"server-bound assertions: {len(rows)} ({summary})"]
    for row in rows:
        if row.status == COVERED:
            detail = f"{len(row.cases)} case{'s' if len(row.cases) > 1 else ''}"
            ran = Counter(outcomes[case] for case in row.cases if outcomes and case in outcomes)
            if ran:
                detail += ": " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(ran.items()))
        else:
            detail = row.reason
        lines.append(f"{row.assertion:<16}{row.level:<8}{row.status:<16}{detail}")
    return "\n".join(lines)


_ROW: Final = re.compile(r"^\| \[(PYRE-[A-Z]+-\d+)\]\(#[^)]*\) \| (MUST|SHOULD|MAY) \| ([^|]+?) \|", re.M)


def parse_index(document: str) -> dict[str, tuple[str, str]]:
    """ID -> (level, party) from the assertion index of the document's markdown text."""
    return {ident: (level, party.strip("`")) for ident, level, party in _ROW.findall(document)}
