"""Where the input side of an HTTP/1.1 connection is: its phases and the one table of moves.

A connection reads one request message after another (RFC 9112 section 9.3),
until something ends that: a request or response that says "close", a message
it cannot trust the framing of, a protocol switch (RFC 9110 section 7.8).  The
phases are the states of that reading; ``TRANSITIONS`` is every move between
them, and a move it does not list is a bug in the server, raised as
``InvalidTransition`` (as h11's ``_state.py`` has it).

==========  =========================================  ==========================
phase       what the connection is reading             leaves on
==========  =========================================  ==========================
IDLE        nothing yet: a request may begin           BEGIN; CONTENT; UPGRADE;
                                                       CLOSE
HEAD        a request's line and header section        CONTENT; END; REPARSE;
                                                       CLOSE
BODY        the content of a request already parsed    END; SWITCH; CLOSE
HELD        nothing: bytes after an Upgrade request    RESUME; SWITCH; CLOSE
            wait for the app's answer
SWITCHED    another protocol's bytes, for the app      CLOSE
CLOSED      nothing more (RFC 9112 section 9.6)        UPGRADE; SWITCH (a request
                                                       that said close may switch);
                                                       END (stays: content dropped)
==========  =========================================  ==========================

The answering side (is the app running, streaming, lingering) belongs to the
transport, ``_protocol``: it follows from the request being answered.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class Phase(enum.IntEnum):
    IDLE = 0
    HEAD = 1
    BODY = 2
    HELD = 3
    SWITCHED = 4
    CLOSED = 5


# The phases as module constants: looking a member up on its class costs a
# descriptor call each time (some 40 ns), where the parser's callbacks compare often.
IDLE, HEAD, BODY, HELD, SWITCHED, CLOSED = Phase


class Event(enum.IntEnum):
    BEGIN = 0  # a request line starts
    CONTENT = 1  # the head ended, and content follows
    END = 2  # the message ended (with its content, if any)
    UPGRADE = 3  # the message asked to switch protocols: what follows waits
    RESUME = 4  # the app declined the switch: what followed is the next request
    SWITCH = 5  # the app switched protocols (101)
    CLOSE = 6  # nothing more is read: "close", an error, a timeout, the server stopping
    REPARSE = 7  # llhttp refused a head the RFC allows: it is parsed again, repaired


class InvalidTransition(RuntimeError):
    """A move ``TRANSITIONS`` does not list: a bug in the server, never the client's doing."""


TRANSITIONS: Final[Mapping[tuple[Phase, Event], Phase]] = {
    (Phase.IDLE, Event.BEGIN): Phase.HEAD,
    (Phase.IDLE, Event.UPGRADE): Phase.HELD,
    # llhttp ends a request that asks to upgrade at its head: its content follows (PYRE-UPG-9).
    (Phase.IDLE, Event.CONTENT): Phase.BODY,
    (Phase.HEAD, Event.CONTENT): Phase.BODY,
    (Phase.HEAD, Event.END): Phase.IDLE,
    (Phase.HEAD, Event.REPARSE): Phase.IDLE,
    (Phase.BODY, Event.END): Phase.IDLE,
    # The app may switch while the upgrade request's content is still arriving.
    (Phase.BODY, Event.SWITCH): Phase.SWITCHED,
    (Phase.HELD, Event.RESUME): Phase.IDLE,
    (Phase.HELD, Event.SWITCH): Phase.SWITCHED,
    # Connection: close, upgrade: the switch still happens, or nothing more is read.
    (Phase.CLOSED, Event.UPGRADE): Phase.HELD,
    (Phase.CLOSED, Event.SWITCH): Phase.SWITCHED,
    # Content over limit_body_size after its response began: the rest of it is dropped.
    (Phase.CLOSED, Event.END): Phase.CLOSED,
    **{(phase, Event.CLOSE): Phase.CLOSED for phase in Phase},
}


class _Moves(dict[Phase, Phase]):
    """The moves of one event: a phase without one is an ``InvalidTransition``."""

    def __init__(self, event: Event) -> None:
        super().__init__({phase: after for (phase, on), after in TRANSITIONS.items() if on == event})
        self.event = event

    def __missing__(self, phase: Phase) -> Phase:
        raise InvalidTransition(f"{self.event.name} in phase {phase.name}")


# TRANSITIONS by event: ``MOVES[event][phase]`` is one dict lookup, for the parser's callbacks.
MOVES: Final[tuple[Mapping[Phase, Phase], ...]] = tuple(_Moves(event) for event in Event)


def advance(phase: Phase, event: Event) -> Phase:
    """The phase after ``event`` in ``phase``; ``InvalidTransition`` if there is none."""
    return MOVES[event][phase]
