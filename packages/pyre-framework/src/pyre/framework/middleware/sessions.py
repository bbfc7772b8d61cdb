"""Sessions kept in a signed cookie: ``request.session``, a dict the client carries but cannot forge.

The cookie's value is ``<payload>.<timestamp>.<signature>``: the payload is the
session as JSON in unpadded base64url, the timestamp the second it was signed
(decimal), and the signature HMAC-SHA256 over both, also base64url.  Everything
is from the standard library (``hmac``, ``hashlib``, ``base64``): the format is
three fields and one MAC, too little to take on itsdangerous as a dependency,
and written here it can check the signature before anything is decoded and
enforce the expiry from the signed timestamp.

The client can read the session (it is signed, not encrypted): never put a
secret in it.  Whatever does not verify (tampered, expired, signed with a key no
longer listed, oversized, not JSON, not an object) is an empty session, never an
error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, Literal

import orjson

import pyre.spec

from ..requests import Request
from ..responses import Response
from . import CallNext

# Browsers keep cookies of up to 4096 bytes (RFC 6265 section 6.1); a larger one is dropped without a
# word, so one is never sent, and a larger one received was not ours.
MAX_COOKIE_SIZE = 4096

_PURPOSE = b"pyre.framework.session\x00"
"""Prefixed to what is signed, so a MAC made with the same key for something else never verifies here."""


class Session(MutableMapping[str, Any]):
    """The session of one request: a mapping whose changes are noticed.

    Only assignments, deletions and ``clear()`` on the session itself mark it
    modified; changing a value in place (``session["cart"].append(...)``) does
    not, so assign it again.
    """

    __slots__ = ("_data", "modified")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = data if data is not None else {}
        self.modified = False

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.modified = True

    def to_dict(self) -> dict[str, Any]:
        """A copy of the session's contents."""
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Session({self._data!r})"


class SessionMiddleware:
    """Give every request a ``request.session`` kept in a signed cookie.

    ``secret_key`` is a key or a list of keys, newest first: the first signs,
    any verifies, so a key is rotated by putting the new one first and removing
    the old one once ``max_age`` has passed.  A session is valid for ``max_age``
    seconds after it was last changed (checked from the signed timestamp, not
    left to the browser).  The cookie is sent only when the session was
    changed; a session emptied by the request deletes the cookie.  The cookie is
    ``HttpOnly``; ``https_only`` adds ``Secure``, which ``same_site="none"``
    requires.
    """

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
    ) -> None:
        keys = [secret_key] if isinstance(secret_key, str | bytes) else list(secret_key)
        if not keys or not all(keys):
            raise ValueError("SessionMiddleware needs at least one non-empty secret_key")
        self._keys = [key.encode() if isinstance(key, str) else bytes(key) for key in keys]
        if max_age <= 0:
            raise ValueError(f"max_age must be a positive number of seconds, not {max_age!r}")
        if same_site == "none" and not https_only:
            raise ValueError('same_site="none" needs https_only=True: browsers refuse it without Secure')
        self.cookie_name = cookie_name
        self.max_age = max_age
        # The cookie's attributes are checked once, by the one set_cookie rule, and kept as bytes.
        probe = Response()
        options: dict[str, Any] = {
            "path": path,
            "domain": domain,
            "secure": https_only,
            "httponly": True,
            "samesite": same_site,
        }
        probe.set_cookie(cookie_name, max_age=max_age, **options)
        probe.delete_cookie(cookie_name, **options)
        set_line, self._delete_field = probe.headers[-2], probe.headers[-1]
        self._attributes = set_line[1].partition(b";")[2]

    async def __call__(self, request: Request, call_next: CallNext) -> pyre.spec.Response:
        cookie = request.cookies.get(self.cookie_name)
        session = Session(None if cookie is None else self.load(cookie))
        request._session = session
        response = await call_next(request)
        if session.modified:
            if session:
                value = self.dump(session.to_dict())
                field = (b"set-cookie", b"%s=%s;%s" % (self.cookie_name.encode(), value, self._attributes))
            else:
                field = self._delete_field
            response.headers = [*response.headers, field]
        return response

    def dump(self, data: dict[str, Any], now: float | None = None) -> bytes:
        """The cookie value carrying ``data``, signed with the newest key at ``now`` (default: the time)."""
        payload = _encode(orjson.dumps(data))
        signed = b"%s.%d" % (payload, int(time.time() if now is None else now))
        value = b"%s.%s" % (signed, _encode(_sign(self._keys[0], signed)))
        if len(self.cookie_name) + 1 + len(value) > MAX_COOKIE_SIZE:
            raise ValueError(
                f"the session is {len(value)} bytes signed, over a browser's {MAX_COOKIE_SIZE}-byte cookie: "
                "keep large data on the server and only its key in the session"
            )
        return value

    def load(self, value: str) -> dict[str, Any] | None:
        """The data a cookie value carries, or ``None`` if it does not verify, has expired or is malformed."""
        if len(value) > MAX_COOKIE_SIZE or not value.isascii():
            return None
        signed, _, signature = value.encode().rpartition(b".")
        payload, _, stamp = signed.partition(b".")
        if not (payload and stamp.isdigit() and len(stamp) <= 12):
            return None
        # Compared encoded, so a signature that decodes alike but is spelt otherwise is refused too.
        if not any(hmac.compare_digest(signature, _encode(_sign(key, signed))) for key in self._keys):
            return None
        if time.time() - int(stamp) > self.max_age:
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (binascii.Error, orjson.JSONDecodeError):
            return None  # signed by us, so only a key shared with something else makes this
        return data if isinstance(data, dict) else None


def _sign(key: bytes, signed: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + signed, hashlib.sha256).digest()


def _encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


__all__ = [
    "MAX_COOKIE_SIZE",
    "Session",
    "SessionMiddleware",
]
