"""The suite as pytest tests: one test per case, xfail for declared deviations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from . import (  # noqa: F401  (they register their cases)
    _behaviors_inside,
    _behaviors_request,
    _behaviors_response,
    _behaviors_websocket,
)
from ._behaviors import BEHAVIORS
from ._cases import Case, Context, Limits, NotApplicable, ServerFactory
from ._wire import load_corpus

if TYPE_CHECKING:
    import pytest


def all_cases(limits: Limits | None = None) -> list[Case]:
    """Every conformance case: the app behaviours, then the wire corpus."""
    cases = [*BEHAVIORS, *load_corpus(limits or Limits())]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ValueError(f"two conformance cases have the id {case.id}")
        seen.add(case.id)
    return cases


def conformance_tests(
    factory: ServerFactory,
    *,
    limits: Limits | None = None,
    expected_failures: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> type:
    """A pytest test class running every case against the servers ``factory`` starts.

    Bind it to a name starting with ``Test`` in a test module::

        TestConformance = conformance_tests(my_factory, expected_failures={"PYRE-WIRE-4[bare-lf]": "why"})

    ``expected_failures`` maps case ids to the reason; those cases are marked
    ``xfail(strict=True)``, so one that starts passing fails until it is removed.
    ``timeout`` bounds every wait on the server, in seconds.
    """
    import pytest

    from .plugin import ensure_registered

    declared = limits or Limits()
    cases = all_cases(declared)
    known = {case.id for case in cases}
    expected = dict(expected_failures or {})
    unknown = sorted(set(expected) - known)
    if unknown:
        raise ValueError(f"expected_failures names unknown conformance cases: {unknown}")
    params = [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=expected[case.id])] if case.id in expected else [],
        )
        for case in cases
    ]

    class ConformanceTests:
        """pyre-spec server conformance: one test per case."""

        # A class-scoped fixture is a classmethod: pytest 9 deprecates instance methods for it
        # (PytestRemovedIn10Warning), and pytest 8 takes either.
        @pytest.fixture(scope="class")
        @classmethod
        def pyre_conformance_context(cls, request: pytest.FixtureRequest) -> Iterator[Context]:
            ensure_registered(request.config)
            context = Context(factory, declared, timeout)
            yield context
            context.close()

        @pytest.mark.parametrize("case", params)
        def test_conformance(self, case: Case, pyre_conformance_context: Context) -> None:
            reason = case.skip_reason(declared)
            if reason is not None:
                pytest.skip(reason)
            try:
                case.check(pyre_conformance_context)
            except NotApplicable as not_applicable:
                pytest.skip(str(not_applicable))
            pyre_conformance_context.check_reported(case.app)

    return ConformanceTests
