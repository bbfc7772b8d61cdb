"""Counting what a hostile HTTP/2 client repeats: resets, pings, settings.

Each of these is cheap for the client to send and costs the server work or an
answer, so none is refused alone; too many within ``WINDOW`` seconds end the
connection with GOAWAY ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487; the
SETTINGS and PING floods of CVE-2019-9512 and -9515).
"""

from __future__ import annotations

from typing import Final

# The period each count runs over; a count starts again after it.
WINDOW: Final = 10.0


class FloodCounter:
    """How many of one kind of frame arrived in the current window, against a limit."""

    __slots__ = ("limit", "count", "window_ends")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.window_ends = 0.0

    def exceeded(self, now: float, count: int = 1) -> bool:
        """Count ``count`` more at ``now``; whether the limit is now passed."""
        if now >= self.window_ends:
            self.window_ends = now + WINDOW
            self.count = 0
        self.count += count
        return self.count > self.limit
