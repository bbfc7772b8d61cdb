"""Reason phrases for status codes (spec section 6.2).

The reason phrase carries no meaning (RFC 9112 section 4), yet every server
writes one and every framework shows one on an error page; one table keeps them
from telling a client two different names for the same status.
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# RFC 9110 section 15 renamed these; Python's http.HTTPStatus before 3.13 still has
# RFC 7231's names ("Request Entity Too Large").
_RFC_9110_NAMES: Final = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}

STATUSES_WITHOUT_CONTENT: Final = frozenset({204, 304})
"""Final statuses whose responses never have content, whatever the method (RFC 9110 sections
15.3.5 and 15.4.5; and every 1xx, which is not final).  A server sends no ``transfer-encoding``
and no chunks for them; a ``content-length`` on a 304 (or a response to HEAD) describes the
content a GET would have had, not a body (PYRE-FRAME-2)."""

REASON_PHRASES: Final[Mapping[int, str]] = MappingProxyType(
    {status.value: _RFC_9110_NAMES.get(status.value, status.phrase) for status in http.HTTPStatus}
)
"""The reason phrase of every registered status code, by code, as RFC 9110 names them.

A code missing from it (``599``) has no registered phrase; a server then writes an
empty one, as RFC 9112 section 4 allows.
"""
