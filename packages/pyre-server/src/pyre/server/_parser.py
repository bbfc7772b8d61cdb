"""httptools' request parser as this server configures it, and the one question it cannot answer."""

from __future__ import annotations

from httptools import HttpParserError, HttpRequestParser


def new_parser(protocol: object) -> HttpRequestParser:
    parser = HttpRequestParser(protocol)
    # Versions and BWS before a chunk extension (RFC 9112 section 7.1.1) are checked
    # by rules.check_version and accepted, rather than refused by llhttp.
    parser.set_dangerous_leniencies(lenient_version=True, lenient_spaces_after_chunk_size=True)
    return parser


class _MessageCounter:
    __slots__ = ("completed",)

    def __init__(self) -> None:
        self.completed = 0

    def on_message_complete(self) -> None:
        self.completed += 1


def _completed_messages(data: bytes) -> int:
    counter = _MessageCounter()
    try:
        new_parser(counter).feed_data(data)
    except HttpParserError:
        pass
    return counter.completed


def message_start(data: bytes, completed: int) -> int:
    """Where the message after the first ``completed`` ones in ``data`` starts.

    httptools reports no offsets, so this bisects for the shortest prefix a
    fresh parser reads ``completed`` messages from.  Only run on a failed head.
    """
    low, high = 0, len(data)
    while completed and low < high:
        middle = (low + high) // 2
        if _completed_messages(data[:middle]) >= completed:
            high = middle
        else:
            low = middle + 1
    return low
