"""The wire-level HTTP/1.1 corpus: data files of raw requests and what must come back.

``corpus/assertions.toml`` holds the ``[assertions.ID]`` tables (level, section,
text) that every file's ``[[cases]]`` refer to.  A case's ``request`` is a TOML basic string, so
``\\r\\n``, ``\\t`` and ``\\u0000`` escapes spell the raw bytes (encoded as
ISO-8859-1).  ``{{name}}`` placeholders expand to requests sized from the
server's declared ``Limits``.  Case keys:

``assertion``, ``name``
    the case id is ``assertion[name]``;
``section``, ``summary``
    override the assertion's section and text;
``request``
    the bytes sent, all at once;
``status``
    allowed statuses of the single response; or ``responses``, a list of tables
    with ``status``, optional ``method`` (``"HEAD"``) and ``echo``, one per
    response expected in order (pipelining);
``close``
    ``true``: the server must close after the last response; ``false``: the
    connection must still serve a request; absent: either;
``echo``
    fields the ``echo`` app must have seen: ``method``, ``target``, ``path``,
    ``raw_path``, ``query``, ``http_version``, ``authority``, ``body``,
    ``body_length``, ``headers`` (name -> value or list of values), ``absent`` (header names),
    ``trailers`` (name -> value);
``none``
    inside ``echo``: fields that must be ``None`` (TOML has no null);
``raw_headers``
    inside ``echo``: the exact field lines, ``[[name, value], ...]``, case kept;
``connection``
    inside a response table: a token its Connection field must carry;
``app_saw``
    the exact ``"METHOD target"`` list the app was called with; proves that a
    smuggled request never reached it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

from . import apps
from ._cases import Case, Context, Limits
from ._client import ConnectionClosed, WireResponse

_LEVELS = ("MUST", "SHOULD", "MAY")


@dataclass(frozen=True)
class ExpectedResponse:
    status: tuple[int, ...]
    method: str = "GET"
    echo: dict[str, Any] | None = None
    connection: str | None = None
    """A token the response's Connection field must carry, e.g. ``"close"``."""


@dataclass(frozen=True)
class WireCase:
    request: bytes
    responses: tuple[ExpectedResponse, ...]
    close: bool | None
    app_saw: tuple[str, ...] | None = None


def _placeholders(limits: Limits) -> dict[str, Callable[[], str]]:
    def long_target() -> str:
        assert limits.max_target is not None
        return "/" + "t" * limits.max_target

    def huge_field() -> str:
        assert limits.max_header_bytes is not None
        return "X-Huge: " + "h" * limits.max_header_bytes + "\r\n"

    def many_fields() -> str:
        assert limits.max_header_count is not None
        return "".join(f"X-Field-{i}: {i}\r\n" for i in range(limits.max_header_count + 1))

    def over_body() -> str:
        assert limits.max_body is not None
        return "b" * (limits.max_body + 1)

    def over_body_length() -> str:
        assert limits.max_body is not None
        return str(limits.max_body + 1)

    def over_body_chunked() -> str:
        assert limits.max_body is not None
        chunk = "c" * 65536
        count = limits.max_body // len(chunk) + 1
        return f"{len(chunk):x}\r\n{chunk}\r\n" * count + "0\r\n\r\n"

    return {
        "long_target": long_target,
        "huge_field": huge_field,
        "many_fields": many_fields,
        "over_body": over_body,
        "over_body_length": over_body_length,
        "over_body_chunked": over_body_chunked,
    }


_NEEDS = {
    "long_target": "max_target",
    "huge_field": "max_header_bytes",
    "many_fields": "max_header_count",
    "over_body": "max_body",
    "over_body_length": "max_body",
    "over_body_chunked": "max_body",
}


def _expand(text: str, limits: Limits) -> tuple[str, tuple[str, ...]]:
    needs = []
    makers = _placeholders(limits)
    for name, limit in _NEEDS.items():
        marker = "{{" + name + "}}"
        if marker in text:
            needs.append(limit)
            if getattr(limits, limit) is not None:
                text = text.replace(marker, makers[name]())
    if "{{" in text and not needs:
        raise ValueError(f"unknown placeholder in {text[:80]!r}")
    return text, tuple(needs)


def _expected(table: dict[str, Any]) -> ExpectedResponse:
    status = table["status"]
    return ExpectedResponse(
        status=tuple(status if isinstance(status, list) else [status]),
        method=table.get("method", "GET"),
        echo=table.get("echo"),
        connection=table.get("connection"),
    )


def load_corpus(limits: Limits) -> list[Case]:
    """Every wire case of every ``corpus/*.toml`` file, files in name order."""
    corpus = resources.files(__package__).joinpath("corpus")
    files = sorted((e for e in corpus.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name)
    tables = [(entry.name, tomllib.loads(entry.read_text("utf-8"))) for entry in files]
    assertions: dict[str, dict[str, str]] = {}
    for filename, data in tables:
        for ident, assertion in data.get("assertions", {}).items():
            if assertion.get("level") not in _LEVELS:
                raise ValueError(f"{filename}: assertion {ident} has no valid level")
            if assertions.setdefault(ident, assertion) != assertion:
                raise ValueError(f"{filename}: assertion {ident} is defined twice, differently")
    cases = []
    for filename, data in tables:
        for table in data.get("cases", []):
            try:
                cases.append(_case(table, assertions[table["assertion"]], limits))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{filename}: bad case {table.get('name')!r}: {exc!r}") from exc
    return cases


def _case(table: dict[str, Any], assertion: dict[str, str], limits: Limits) -> Case:
    request, needs = _expand(table["request"], limits)
    if "responses" in table:
        responses = tuple(_expected(t) for t in table["responses"])
    else:
        responses = (_expected(table),)
    saw = table.get("app_saw")
    wire = WireCase(
        request=request.encode("latin-1"),
        responses=responses,
        close=table.get("close"),
        app_saw=None if saw is None else tuple(saw),
    )
    return Case(
        assertion=table["assertion"],
        name=table["name"],
        level=assertion["level"],
        section=table.get("section", assertion["section"]),
        summary=table.get("summary", assertion["text"]),
        app=apps.echo,
        check=partial(run_wire_case, wire),
        needs=needs,
    )


_PROBE = b"GET /_control/post?id=probe HTTP/1.1\r\nHost: conformance.test\r\n\r\n"


def take_seen(context: Context) -> list[str]:
    """The requests the echo app saw since the last call."""
    response = context.exchange(apps.echo, b"GET /_control/seen HTTP/1.1\r\nHost: conformance.test\r\n\r\n")
    seen: list[str] = response.json()
    return seen


def run_wire_case(wire: WireCase, context: Context) -> None:
    if wire.app_saw is not None:
        take_seen(context)
    with context.connect(apps.echo) as client:
        client.send(wire.request)
        received: list[WireResponse] = []
        for number, expected in enumerate(wire.responses, 1):
            try:
                response = client.read_response(expected.method)
            except ConnectionClosed:
                raise AssertionError(
                    f"connection closed before response {number} of {len(wire.responses)}; "
                    f"expected status {_statuses(expected)}, got {[r.status for r in received]} before"
                ) from None
            received.append(response)
            assert response.status in expected.status, (
                f"response {number}: status {response.status}, expected {_statuses(expected)}; "
                f"body {response.body[:200]!r}"
            )
            if expected.connection is not None:
                assert expected.connection in response.connection_tokens(), (
                    f"response {number} lacks Connection: {expected.connection}: {response.headers}"
                )
            if expected.echo is not None and (
                200 <= response.status < 300 or response.header("content-type") == "application/json"
            ):
                check_echo(expected.echo, response)
        tokens = received[-1].connection_tokens()
        if wire.close or "close" in tokens:
            rest = client.read_until_close()
            assert not rest, f"after the last expected response the server sent more: {rest[:200]!r}"
        elif wire.close is False or (wire.close is None and "keep-alive" in tokens):
            client.send(_PROBE)
            try:
                probe = client.read_response()
            except ConnectionClosed:
                raise AssertionError("the connection must stay open, but the server closed it") from None
            assert probe.status == 200, f"a request after the case got {probe.status}"
    if wire.app_saw is not None:
        seen = take_seen(context)
        assert seen == list(wire.app_saw), f"the app saw {seen}, expected exactly {list(wire.app_saw)}"


def _statuses(expected: ExpectedResponse) -> str:
    return " or ".join(str(s) for s in expected.status)


def check_echo(expected: dict[str, Any], response: WireResponse) -> None:
    """Compare what the echo app reported with the ``echo`` table of a case."""
    seen = response.json()
    headers: dict[str, list[str]] = {}
    for name, value in seen["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    for key, want in expected.items():
        if key == "headers":
            for name, values in want.items():
                wanted = values if isinstance(values, list) else [values]
                got = headers.get(name.lower(), [])
                assert got == wanted, f"header {name}: app saw {got}, expected {wanted}"
        elif key == "absent":
            for name in want:
                assert name.lower() not in headers, f"header {name} must not reach the app: {headers}"
        elif key == "none":
            for name in want:
                assert seen[name] is None, f"{name}: app saw {seen[name]!r}, expected None"
        elif key == "raw_headers":
            assert seen["headers"] == want, f"the app saw field lines {seen['headers']}, expected {want}"
        elif key == "trailers":
            trailers = {n.lower(): v for n, v in seen["trailers"] or []}
            for name, value in want.items():
                assert trailers.get(name.lower()) == value, f"trailer {name}: app saw {trailers}"
        else:
            assert seen[key] == want, f"{key}: app saw {seen[key]!r}, expected {want!r}"
