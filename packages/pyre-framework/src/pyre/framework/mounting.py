"""Mounting: another pyre-spec application served under a path prefix of the app.

::

    app.mount("/static", StaticFiles(directory="static"), name="static")
    app.mount("/admin", admin_app, name="admin")

A request whose path is the prefix, or starts with the prefix and a ``/``, and
that no route of the app answers, goes to the mounted application as a
``MountedRequest``: ``raw_path`` and ``path`` are what follows the prefix
(``/`` for the prefix itself) and ``root_path`` is the parent's ``root_path``
with the prefix appended (PYRE-REQ-12: an application builds its external URLs
as ``root_path + path``).  Everything else is the parent's request.

The prefix matches whole segments only: ``/static`` takes ``/static/a.css``,
never ``/staticx``.  A client may percent-encode the prefix's characters
(``/st%61tic``); such a path is compared segment by segment once decoded, and a
segment that encodes a ``/`` (``%2F``) never matches a literal one.  Nothing is
normalised: ``/static/../app.py`` reaches the mounted application with the path
``/../app.py``, which ``StaticFiles`` refuses like any other way out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any, Final
from urllib.parse import quote

import pyre.spec

from .exceptions import RouteError, URLBuildError
from .routing import DOT_SEGMENTS

# RFC 3986 section 3.3's pchar without pct-encoded: a prefix is literal URL text, equal to its decoding.
_PREFIX_SEGMENT: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]+")


class Mount:
    """One application mounted under ``prefix``; ``name`` is what ``url_for`` knows it by."""

    __slots__ = ("prefix", "app", "name", "_raw", "_segments")

    def __init__(self, prefix: str, app: pyre.spec.Application, name: str | None) -> None:
        self.prefix = normalise_prefix(prefix)
        self.app = app
        self.name = name
        self._raw = self.prefix.encode("ascii")
        self._segments = self.prefix.split("/")[1:] if self.prefix else []

    def remainder(self, raw_path: bytes) -> bytes | None:
        """What follows the prefix in ``raw_path``, starting with ``/``; ``None`` if it is not under it."""
        raw = self._raw
        if raw_path.startswith(raw):
            rest = raw_path[len(raw) :]
            if rest[:1] == b"/":
                return rest
            if not rest and raw:  # the prefix itself; a root mount takes no CONNECT's empty path
                return b"/"
        if b"%" not in raw_path or not raw_path.startswith(b"/"):
            return None
        # Some characters of the prefix may be percent-encoded: compare the decoded segments.
        count = len(self._segments)
        segments = pyre.spec.path_segments(raw_path)  # a segment holding an encoded "/" matches none
        if segments is None or segments[:count] != self._segments:
            return None
        return b"/" + b"/".join(raw_path.split(b"/")[count + 1 :])

    def url_path(self, parameters: Mapping[str, Any]) -> str:
        """``url_for(name, path=...)`` of the mount: ``path`` (default ``""``) under the prefix."""
        if not parameters.keys() <= {"path"}:
            raise URLBuildError(f"mount {self.name!r} takes only a path=, not {sorted(parameters)}")
        path = parameters.get("path", "")
        if not isinstance(path, str) or any(segment in DOT_SEGMENTS for segment in path.split("/")):
            raise URLBuildError(f"mount {self.name!r}: path={path!r} is not a path without dot segments")
        return self.prefix + "/" + quote(path.lstrip("/"), safe="/")

    def __call__(self, request: pyre.spec.Request, remainder: bytes) -> Awaitable[pyre.spec.Response]:
        """The mounted application's awaitable response to ``request``."""
        return self.app(MountedRequest(request, remainder, request.root_path + self.prefix))


def normalise_prefix(prefix: str) -> str:
    """``prefix`` without a trailing ``/`` (``"/"`` becomes ``""``, the whole path space).

    Each segment must be literal URL text: no parameter, escape, empty or dot segment.
    """
    if not prefix.startswith("/"):
        raise RouteError(f"mount prefix {prefix!r} must start with '/'")
    stripped = prefix.rstrip("/")
    for segment in stripped.split("/")[1:]:
        if segment in DOT_SEGMENTS or not _PREFIX_SEGMENT.fullmatch(segment):
            raise RouteError(f"mount prefix {prefix!r}: {segment!r} is not a literal path segment")
    return stripped


class MountedRequest(pyre.spec.RequestWrapper):
    """A pyre-spec request as a mounted application sees it: the path below the prefix, the prefix
    appended to ``root_path``, every other attribute the original request's."""

    __slots__ = ("raw_path", "path", "root_path")

    def __init__(self, request: pyre.spec.Request, raw_path: bytes, root_path: str) -> None:
        super().__init__(request)
        self.raw_path = raw_path  # type: ignore[misc]  # a slot here, read-only in the wrapper
        self.path = pyre.spec.decode_path(raw_path)  # type: ignore[misc]
        self.root_path = root_path  # type: ignore[misc]

    @property
    def original(self) -> pyre.spec.Request:
        """The request as the parent application received it."""
        return self.wrapped

    def __repr__(self) -> str:
        return f"<MountedRequest {self.method} {self.root_path!r} + {self.raw_path!r}>"


__all__ = [
    "Mount",
    "MountedRequest",
    "normalise_prefix",
]
