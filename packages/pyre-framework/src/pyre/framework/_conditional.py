"""Validators and conditional requests for file responses (RFC 9110 sections 8.8 and 13)."""

from __future__ import annotations

import email.utils
import os
import re

import pyre.spec

_ENTITY_TAG = re.compile(r'[\s,]*(W/)?("[^"]*")\s*(?:,|$)')


def make_etag(stat: os.stat_result) -> str:
    """A strong entity tag that changes whenever the file's size or modification time does.

    Strong, as nginx's is, so that ``If-Match`` and ``If-Range`` (which use the
    strong comparison, RFC 9110 section 8.8.3.2) can match it.
    """
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7)."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch, or ``None`` for an invalid date (which makes the field ignored)."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp())


def _entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """``(weak, opaque-tag)`` pairs of an ``If-Match``/``If-None-Match`` list; ``None`` when malformed."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(value):
        if not value[position:].strip(" \t,"):
            break
        match = _ENTITY_TAG.match(value, position)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags


def _strong_match(value: str, etag: str) -> bool:
    # RFC 9110 section 8.8.3.2: both tags strong and identical.
    if value.strip() == "*":
        return True
    tags = _entity_tags(value)
    return tags is not None and any(not weak and tag == etag for weak, tag in tags)


def _weak_match(value: str, etag: str) -> bool:
    if value.strip() == "*":
        return True
    tags = _entity_tags(value)
    return tags is not None and any(tag == etag for _, tag in tags)


def evaluate_preconditions(method: str, headers: pyre.spec.Headers, etag: str, modified: int) -> int | None:
    """``412``, ``304`` or ``None`` (go on) for a request's preconditions on a representation.

    The order is RFC 9110 section 13.2.2.  ``modified`` is the Last-Modified
    time in whole seconds, the resolution an HTTP-date has.
    """
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _strong_match(if_match, etag):
            return 412
    else:
        since = headers.get("if-unmodified-since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and modified > date:
            return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _weak_match(if_none_match, etag):
            return 304 if safe else 412
    elif safe:
        since = headers.get("if-modified-since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and modified <= date:
            return 304
    return None


def if_range_allows(value: str, etag: str, modified: int) -> bool:
    """Whether an ``If-Range`` validator still matches, so the ``Range`` applies (section 13.1.5)."""
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    return parse_http_date(value) == modified
