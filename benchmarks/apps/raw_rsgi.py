"""The raw app on granian's own interface, RSGI."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from . import payloads

TEXT = [("content-type", "text/plain; charset=utf-8")]
JSON = [("content-type", "application/json")]
OCTETS = [("content-type", "application/octet-stream")]


async def app(scope: Any, protocol: Any) -> None:
    path: str = scope.path
    if path == "/plaintext":
        protocol.response_bytes(200, TEXT, payloads.HELLO)
    elif path == "/json":
        protocol.response_bytes(200, JSON, json.dumps(payloads.MESSAGE).encode())
    elif path.startswith("/hello/"):
        protocol.response_str(200, TEXT, payloads.hello(path[7:]))
    elif path.startswith("/users/") and path[7:].isdigit():
        protocol.response_bytes(200, JSON, json.dumps(payloads.user(int(path[7:]))).encode())
    elif path == "/echo":
        n = int(dict(parse_qsl(scope.query_string))["n"])
        document = json.loads(await protocol())
        protocol.response_bytes(200, JSON, json.dumps(payloads.echo(n, document)).encode())
    elif path == "/large":
        protocol.response_bytes(200, OCTETS, payloads.LARGE)
    elif path == "/upload":
        protocol.response_str(200, TEXT, str(len(await protocol())))
    elif path == "/sleep":
        await asyncio.sleep(payloads.SLEEP_SECONDS)
        protocol.response_bytes(200, TEXT, payloads.HELLO)
    else:
        protocol.response_bytes(404, TEXT, b"Not Found")
