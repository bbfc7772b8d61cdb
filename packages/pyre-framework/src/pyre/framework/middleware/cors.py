"""Cross-Origin Resource Sharing (the Fetch standard's CORS protocol).

Add it to the app, not to a blueprint or endpoint: a preflight is an
``OPTIONS`` request that must be answered before routing would answer ``405``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyre.spec

from ..requests import Request
from ..responses import TextResponse, add_vary
from . import CallNext

# Fetch standard: request headers a page may always send without a preflight.
_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class CORSMiddleware:
    """Answer preflights and mark responses readable by the allowed origins.

    ``"*"`` in ``allow_origins``, ``allow_methods`` or ``allow_headers`` allows
    any.  With ``allow_credentials`` the request's origin is echoed instead of
    ``*``, because browsers refuse ``*`` for credentialed requests.
    """

    def __init__(
        self,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self._any_origin = "*" in allow_origins
        self._origins = frozenset(allow_origins)
        self._any_method = "*" in allow_methods
        self._methods = frozenset(method.upper() for method in allow_methods)
        self._any_header = "*" in allow_headers
        self._headers = frozenset(header.lower() for header in allow_headers) | _SAFELISTED_HEADERS
        self._credentials = allow_credentials
        # Credentialed or not, a response naming one origin varies with Origin.
        self._echo_origin = allow_credentials or not self._any_origin

        simple: list[tuple[bytes, bytes]] = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if expose_headers:
            simple.append((b"access-control-expose-headers", ", ".join(expose_headers).encode("latin-1")))
        self._simple_headers = simple

        methods = _ALL_METHODS if self._any_method else sorted(self._methods)
        preflight = [
            (b"access-control-allow-methods", ", ".join(methods).encode("latin-1")),
            (b"access-control-max-age", str(max_age).encode("latin-1")),
        ]
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        if not self._any_header:
            allowed = sorted(self._headers)
            preflight.append((b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")))
        self._preflight_headers = preflight

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        origin = request.headers.get("origin")
        if origin is None:
            return await call_next(request)
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return self._preflight(request, origin)
        response = await call_next(request)
        headers = list(response.headers)
        if self._echo_origin:
            add_vary(headers, b"Origin")
        if self._origin_allowed(origin):
            headers.append((b"access-control-allow-origin", self._allow_origin_value(origin)))
            headers += self._simple_headers
        response.headers = headers
        return response

    def _origin_allowed(self, origin: str) -> bool:
        return self._any_origin or origin in self._origins

    def _allow_origin_value(self, origin: str) -> bytes:
        return origin.encode("latin-1") if self._echo_origin else b"*"

    def _preflight(self, request: Request, origin: str) -> pyre.spec.Response:
        method = request.headers.get("access-control-request-method", "")
        requested = [
            name.strip().lower()
            for line in request.headers.get_all("access-control-request-headers")
            for name in line.split(",")
            if name.strip()
        ]
        problems = []
        if not self._origin_allowed(origin):
            problems.append("origin")
        if not (self._any_method or method in self._methods):
            problems.append("method")
        if not self._any_header and any(name not in self._headers for name in requested):
            problems.append("headers")
        if problems:
            response = TextResponse(f"Disallowed CORS {', '.join(problems)}", status=400)
            add_vary(response.headers, b"Origin")
            return response
        headers = [
            (b"access-control-allow-origin", self._allow_origin_value(origin)),
            *self._preflight_headers,
        ]
        if self._any_header and requested:
            headers.append((b"access-control-allow-headers", ", ".join(requested).encode("latin-1")))
        if self._echo_origin:
            add_vary(headers, b"Origin")
        return pyre.spec.Response(204, headers)


__all__ = [
    "CORSMiddleware",
]
