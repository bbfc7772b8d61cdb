"""Refuse requests for hosts the app does not serve (guards against Host header attacks)."""

from __future__ import annotations

from collections.abc import Sequence

import pyre.spec

from ..datastructures import split_authority
from ..requests import Request
from ..responses import TextResponse
from . import CallNext


class TrustedHostMiddleware:
    """Answer ``400`` unless the request's host is in ``allowed_hosts``.

    An entry is a host name, ``*.example.com`` (any subdomain of example.com,
    not example.com itself), or ``*`` (any host).  Ports are ignored and names
    compare case-insensitively.
    """

    def __init__(self, allowed_hosts: Sequence[str]) -> None:
        exact: set[str] = set()
        suffixes: list[str] = []
        for pattern in allowed_hosts:
            pattern = pattern.lower()
            if pattern.startswith("*.") and "*" not in pattern[2:]:
                suffixes.append(pattern[1:])
            elif "*" not in pattern or pattern == "*":
                exact.add(pattern)
            else:
                raise ValueError(f"allowed host {pattern!r}: a wildcard may only be a leading '*.'")
        self._any = "*" in exact
        self._exact = frozenset(exact)
        self._suffixes = tuple(suffixes)

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        if self._any or self._allowed(request.spec.authority):
            return await call_next(request)
        return TextResponse("Invalid host header", status=400)

    def _allowed(self, authority: str | None) -> bool:
        if not authority:
            return False
        # A trailing dot names the same host, fully qualified.
        host = split_authority(authority)[0].rstrip(".")
        return host in self._exact or (bool(self._suffixes) and host.endswith(self._suffixes))


__all__ = [
    "TrustedHostMiddleware",
]
