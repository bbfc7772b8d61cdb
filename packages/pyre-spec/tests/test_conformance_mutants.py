"""Mutation testing of the conformance kit: every deliberate violation must fail it, with its ID.

Each mutant of the reference server (``reference_server.MUTANTS``) breaks one
requirement.  For each, the suite's cases of that assertion ID run in-process
against the mutated server, and at least one must fail with an
``AssertionError`` naming that ID (a case of the ID, or a ``SpecViolation`` the
validated apps raise for it) before the kit's timeout: a timeout, a crash or a
failure of another ID does not catch it.  That the unmutated server passes
those cases is ``test_conformance_reference``'s part.  Running the one ID's
cases, not the whole suite, keeps 27 mutants to seconds.

The mutation score in docs/spec/conformance.md is checked against ``MUTANTS``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from reference_server import MUTANTS, Mutant, serve
from test_conformance_reference import EXPECTED_FAILURES, LIMITS

from pyre.spec import Application
from pyre.spec.testing.conformance import Context, ServerFactory, all_cases

TIMEOUT = 3.0
CONFORMANCE_DOC = Path(__file__).resolve().parents[3] / "docs" / "spec" / "conformance.md"


def _mutated(mutant: Mutant) -> ServerFactory:
    @asynccontextmanager
    async def start(app: Application) -> AsyncIterator[tuple[str, int]]:
        async with serve(app, LIMITS, frozenset({mutant.name})) as address:
            yield address

    return start


def _failures(mutant: Mutant) -> tuple[list[str], dict[str, str]]:
    """The cases of the mutant's ID that ran, and why those that caught it failed."""
    ran: list[str] = []
    caught: dict[str, str] = {}
    context = Context(_mutated(mutant), LIMITS, TIMEOUT)
    try:
        for case in all_cases(LIMITS):
            if case.assertion != mutant.breaks or case.id in EXPECTED_FAILURES or case.skip_reason(LIMITS):
                continue
            ran.append(case.id)
            started = time.monotonic()
            try:
                case.check(context)
            except AssertionError as failure:
                named = getattr(failure, "assertion", mutant.breaks)  # a SpecViolation names its own
                if named == mutant.breaks and time.monotonic() - started < TIMEOUT:
                    caught[case.id] = f"{type(failure).__name__}: {failure}"
            except Exception:  # a timeout, or the case broke: not a catch
                pass
    finally:
        context.close()
    return ran, caught


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=list(MUTANTS))
def test_mutant_is_caught(mutant: Mutant) -> None:
    ran, caught = _failures(mutant)
    assert ran, f"the suite has no case of {mutant.breaks}, which {mutant.name} breaks"
    assert caught, f"{mutant.name} ({mutant.violation}) passed every {mutant.breaks} case: {ran}"


def _published_rows() -> list[tuple[str, str, str]]:
    text = CONFORMANCE_DOC.read_text()
    section = text.split("## Mutation score", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \| (.+?) \| `(PYRE-[A-Z]+-\d+)` \|$", section, re.MULTILINE)


def test_published_mutation_score_lists_every_mutant() -> None:
    expected = [(m.name, m.violation, m.breaks) for m in MUTANTS.values()]
    assert _published_rows() == expected, "docs/spec/conformance.md's mutation table differs from MUTANTS"
    section = CONFORMANCE_DOC.read_text().split("## Mutation score", 1)[1]
    score = f"**{len(MUTANTS)} of {len(MUTANTS)}** mutants"
    assert score in section, f"the published score is not {score}"
