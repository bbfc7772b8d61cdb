"""What every benchmark app serves, and what the suite expects back.

Routes (every app implements all of them):

- ``GET /plaintext``: ``Hello, world!`` as text/plain
- ``GET /json``: ``{"message": "Hello, world!"}``
- ``GET /hello/{name}``: ``Hello, {name}!`` as text/plain
- ``GET /users/{id:int}``: :func:`user` as JSON; a non-integer id is a 404
- ``POST /echo?n=INT`` with a JSON object body: :func:`echo` as JSON
- ``GET /large``: :data:`LARGE` (64 KiB) as application/octet-stream
- ``POST /upload``: the byte length of the request body, as text/plain
- ``GET /sleep``: awaits 10 ms, then ``Hello, world!`` as text/plain
"""

from __future__ import annotations

import json
from typing import Any

HELLO = b"Hello, world!"
MESSAGE = {"message": "Hello, world!"}
LARGE = bytes(range(256)) * 256
SLEEP_SECONDS = 0.01
UPLOAD_SIZE = 1024 * 1024


def hello(name: str) -> str:
    return f"Hello, {name}!"


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": f"user-{user_id}", "email": f"user-{user_id}@example.com"}


def echo(n: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"n": n, "name": payload["name"], "count": len(payload["items"])}


def _echo_request_body(size: int) -> bytes:
    """A realistic JSON object padded to exactly ``size`` bytes."""
    items = [{"id": i, "label": f"item-{i:02d}", "price": i * 1.25} for i in range(12)]
    document: dict[str, Any] = {"name": "pyre", "items": items, "pad": ""}
    unpadded = len(json.dumps(document, separators=(",", ":")))
    document["pad"] = "x" * (size - unpadded)
    return json.dumps(document, separators=(",", ":")).encode()


ECHO_REQUEST_BODY = _echo_request_body(1024)
assert len(ECHO_REQUEST_BODY) == 1024
