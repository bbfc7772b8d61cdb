"""The cases the suite times: one request shape driven by wrk, and its expected answer.

Pipelining is reported separately: its requests/s counts responses, which
arrive sixteen to a batch.  The HTTP/2 cases are driven by h2load instead (see
:mod:`benchmarks.h2load`), against the HTTP/2 targets only.  The memory case is
not a load case at all (see :mod:`benchmarks.memory`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .apps import payloads

MEMORY = "memory"
MEMORY_DESCRIPTION = "RSS of the server process tree holding 10,000 idle keep-alive connections"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: str
    expected_body: bytes
    method: str = "GET"
    content_type: str = ""
    body: bytes = b""
    connections: int = 64
    pipeline: int = 1
    close: bool = False
    json: bool = False
    """Compare the response as JSON (frameworks differ in whitespace, not in content)."""
    http: str = "1"
    """``1``: driven by wrk over HTTP/1.1; ``2``: by h2load over HTTP/2, on the HTTP/2 targets."""
    streams: int = 1
    """HTTP/2: the streams each connection keeps in flight (h2load's ``-m``)."""

    @property
    def group(self) -> str:
        if self.http == "2":
            return "http2"
        return "pipelining" if self.pipeline > 1 else "main"

    def request_headers(self) -> list[tuple[str, str]]:
        headers = [("Host", "127.0.0.1")]
        if self.content_type:
            headers.append(("Content-Type", self.content_type))
        if self.body or self.method == "POST":
            headers.append(("Content-Length", str(len(self.body))))
        if self.close:
            headers.append(("Connection", "close"))
        return headers

    def body_matches(self, body: bytes) -> bool:
        if not self.json:
            return body == self.expected_body
        try:
            return bool(json.loads(body) == json.loads(self.expected_body))
        except ValueError:
            return False


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _plaintext(
    name: str, description: str, *, connections: int = 64, pipeline: int = 1, close: bool = False
) -> Scenario:
    return Scenario(
        name,
        description,
        "/plaintext",
        payloads.HELLO,
        connections=connections,
        pipeline=pipeline,
        close=close,
    )


SCENARIOS: list[Scenario] = [
    # Also the 64-connection point of the concurrency series.
    _plaintext("plaintext", "GET /plaintext, 13-byte `Hello, world!`, 64 keep-alive connections"),
    Scenario("json", "GET /json, a small JSON object", "/json", _json(payloads.MESSAGE), json=True),
    Scenario("hello-name", "GET /hello/{name}: a path parameter, text", "/hello/pyre", b"Hello, pyre!"),
    Scenario(
        "user-id",
        "GET /users/{id:int}: an int path parameter, a small JSON object",
        "/users/42",
        _json(payloads.user(42)),
        json=True,
    ),
    Scenario(
        "post-json",
        "POST /echo?n=7 with a 1 KiB JSON body, a small JSON answer",
        "/echo?n=7",
        _json(payloads.echo(7, json.loads(payloads.ECHO_REQUEST_BODY))),
        method="POST",
        content_type="application/json",
        body=payloads.ECHO_REQUEST_BODY,
        json=True,
    ),
    Scenario("large-64k", "GET /large, a 64 KiB response", "/large", payloads.LARGE),
    Scenario(
        "upload-1m",
        "POST /upload with a 1 MiB body, read whole by the app",
        "/upload",
        str(payloads.UPLOAD_SIZE).encode(),
        method="POST",
        content_type="application/octet-stream",
        body=b"u" * payloads.UPLOAD_SIZE,
    ),
    _plaintext("concurrency-1", "plaintext over 1 keep-alive connection", connections=1),
    _plaintext("concurrency-256", "plaintext over 256 keep-alive connections", connections=256),
    _plaintext("concurrency-1024", "plaintext over 1024 keep-alive connections", connections=1024),
    Scenario("sleep-10ms", "GET /sleep: the handler awaits 10 ms", "/sleep", payloads.HELLO),
    _plaintext("new-connection", "plaintext, `Connection: close`: a new connection per request", close=True),
    _plaintext("pipelining-16", "plaintext, 16 requests pipelined per connection", pipeline=16),
]
H2_CONNECTIONS = 16
SCENARIOS += [
    Scenario(
        f"h2-streams-{streams}",
        f"HTTP/2 GET /plaintext, {H2_CONNECTIONS} connections, {streams} concurrent "
        f"stream{'s' if streams > 1 else ''} each (h2load)",
        "/plaintext",
        payloads.HELLO,
        connections=H2_CONNECTIONS,
        http="2",
        streams=streams,
    )
    for streams in (1, 10, 100)
]

PLAINTEXT = SCENARIOS[0]
SCENARIO_NAMES = [scenario.name for scenario in SCENARIOS] + [MEMORY]
