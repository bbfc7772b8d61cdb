"""Lists of expected differences, applied to collected tests as xfail marks."""

from __future__ import annotations

import os

import pytest


def apply_expected(items: list[pytest.Item], expected: dict[str, str], awaiting_fix: dict[str, str]) -> None:
    """Mark ``expected`` tests xfail(strict=True) and ``awaiting_fix`` ones xfail(strict=False).

    A strict xfail that passes fails the run, so a difference that went away is noticed and
    its entry removed. On a full run (``INTEROP_CHECK_STALE=1``) every listed id must name a
    collected test, so a stale entry fails too.
    """
    found: set[str] = set()
    for item in items:
        test_id = item.nodeid
        if test_id in expected:
            item.add_marker(pytest.mark.xfail(reason=expected[test_id], strict=True))
            found.add(test_id)
        elif test_id in awaiting_fix:
            item.add_marker(pytest.mark.xfail(reason=awaiting_fix[test_id], strict=False))
            found.add(test_id)
    stale = (expected.keys() | awaiting_fix.keys()) - found
    if stale and os.environ.get("INTEROP_CHECK_STALE") == "1":
        raise pytest.UsageError(f"listed tests that were not collected: {sorted(stale)}")
