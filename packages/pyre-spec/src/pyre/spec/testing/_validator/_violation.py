"""What the validator raises, and the checks every part of it makes."""

from __future__ import annotations

import asyncio


class SpecViolation(AssertionError):
    """A requirement of pyre-spec was broken; ``assertion`` is its ID."""

    def __init__(self, assertion: str, message: str) -> None:
        super().__init__(f"{assertion}: {message}")
        self.assertion = assertion


def check_task(what: str) -> None:
    if asyncio.current_task() is None:
        raise SpecViolation("PYRE-APP-5", f"{what} runs outside any asyncio Task")


def is_byte_pair(line: object) -> bool:
    """Whether ``line`` is a field line as the spec has them: a ``(bytes, bytes)`` tuple."""
    return (
        isinstance(line, tuple)
        and len(line) == 2
        and isinstance(line[0], bytes)
        and isinstance(line[1], bytes)
    )
