"""Errors raised by pyre-asgi.

The tree, with the pyre-spec and Python classes it joins::

    ASGIError
    ├── ASGIProtocolError         the ASGI app (or server) broke the ASGI message protocol
    ├── LifespanFailure           the app reported lifespan.startup.failed / lifespan.shutdown.failed
    └── ASGIClientDisconnected    send() after the client left
                                  (also an OSError and a pyre.spec.ClientDisconnected)

``ASGIClientDisconnected`` is what ASGI HTTP spec 2.4 asks a server to raise from
``send()`` on a closed connection: "a server-specific subclass of ``OSError``".
It is also a ``pyre.spec.ClientDisconnected``, so a pyre server that sees it
escape from the application treats it as the client having left, not as a bug.
Its name says both: the ASGI side's form of the spec's ``ClientDisconnected``.
"""

from __future__ import annotations

from pyre.spec import ClientDisconnected


class ASGIError(Exception):
    """Root of every exception defined by pyre-asgi."""


class ASGIProtocolError(ASGIError):
    """A message arrived out of order, had an unknown type, or the response was never finished."""


class LifespanFailure(ASGIError):
    """The application failed its lifespan startup or shutdown; the message is the app's own."""


class ASGIClientDisconnected(ASGIError, ClientDisconnected, OSError):
    """``send()`` was called after the client disconnected (ASGI HTTP spec 2.4)."""
