"""Byte ranges (RFC 9110 section 14)."""

from __future__ import annotations

MAX_RANGES = 100
"""More range-specs than this and the ``Range`` field is ignored (section 14.2 allows it)."""

# More digits than this cannot be a position in a file; int() of longer text is also slow.
_MAX_DIGITS = 18


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a ``Range`` field as sorted, merged ``(first, last)`` pairs.

    ``None`` means ignore the field and send the whole representation: another
    unit, bad syntax, or too many ranges.  An empty list means no range is
    satisfiable: answer ``416``.
    """
    unit, equals, specs = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    pieces = [piece.strip() for piece in specs.split(",")]
    pieces = [piece for piece in pieces if piece]
    if not pieces or len(pieces) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for piece in pieces:
        first_text, dash, last_text = piece.partition("-")
        if not dash:
            return None
        if not first_text:
            # suffix-range: the last N bytes
            suffix = _position(last_text)
            if suffix is None:
                return None
            if suffix > 0 and size > 0:
                ranges.append((max(0, size - suffix), size - 1))
            continue
        first = _position(first_text)
        last = _position(last_text) if last_text else first
        if first is None or last is None or last < first:
            return None
        if not last_text:
            last = size - 1
        if first < size:
            ranges.append((first, min(last, size - 1)))
    return _merge(ranges)


def _position(text: str) -> int | None:
    if not text.isdigit() or not text.isascii():
        return None
    return int(text) if len(text) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping and adjacent ranges joined, so no byte is sent twice."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
