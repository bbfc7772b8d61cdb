"""Errors pyre-server raises to the code that runs it.

The tree::

    ServerError
    ├── AppLoadError     MODULE:ATTR could not be imported or is not an application
    └── StartupError     the server could not start: address unusable, lifespan startup failed

Errors an application sees while handling a request (``ClientDisconnected``,
``RequestBodyTooLarge``) are pyre-spec's, raised from ``pyre.spec``.
"""

from __future__ import annotations


class ServerError(Exception):
    """Root of every exception pyre-server raises."""


class AppLoadError(ServerError):
    """The application named on the command line could not be loaded."""


class StartupError(ServerError):
    """The server did not start serving; the message says why in one line."""
