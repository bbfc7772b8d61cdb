"""The conformance kit itself: its corpus, its failure detection, both factory kinds, its report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from reference_server import serve

from pyre.spec import Application, Request, RequestWrapper, Response
from pyre.spec.testing import SpecViolation
from pyre.spec.testing.conformance import Context, Limits, Results, all_cases, apps, conformance_tests
from pyre.spec.testing.conformance._coverage import (
    COVERED,
    INDEX,
    MISSING,
    NOT_COVERED,
    SERVER_PARTIES,
    coverage,
    coverage_table,
    parse_index,
    server_bound,
)

TESTS_DIR = Path(__file__).parent
SPEC = TESTS_DIR.parents[2] / "docs" / "spec" / "index.md"


def test_public_api() -> None:
    import pyre.spec.testing.conformance as conformance

    assert set(conformance.__all__) == {
        "Case",
        "ConnectionClosed",
        "Context",
        "Limits",
        "ProtocolViolation",
        "Results",
        "ServerFactory",
        "WireClient",
        "WireResponse",
        "all_cases",
        "conformance_tests",
    }
    for name in conformance.__all__:
        assert hasattr(conformance, name), name


def test_corpus_size_and_shape() -> None:
    cases = all_cases()
    wire = [case for case in cases if case.app is apps.echo]
    assert len(wire) >= 100
    assert len({case.id for case in cases}) == len(cases)
    for case in cases:
        assert re.fullmatch(r"PYRE-[A-Z]+-\d+\[[a-z0-9-]+\]", case.id), case.id
        assert case.level in ("MUST", "SHOULD", "MAY"), case.id
        assert case.section, case.id
        assert case.summary, case.id


def test_every_case_names_a_spec_assertion_at_its_level() -> None:
    if not SPEC.exists():
        pytest.skip("docs/spec is not part of this checkout")
    index = dict(
        re.findall(r"^\| \[(PYRE-[A-Z]+-\d+)\]\(#[^)]*\) \| (MUST|SHOULD|MAY) \|", SPEC.read_text(), re.M)
    )
    assert index
    for case in all_cases():
        assert index.get(case.assertion) == case.level, case.id


# -- coverage: every server-bound ID has a case or a declared reason ---------------


def test_the_kits_index_is_the_documents() -> None:
    if not SPEC.exists():
        pytest.skip("docs/spec is not part of this checkout")
    document = parse_index(SPEC.read_text())
    assert len(document) > 100
    added = {ident: row for ident, row in document.items() if INDEX.get(ident) != row}
    dropped = sorted(set(INDEX) - set(document))
    assert not added, f"update _coverage.INDEX: the document has {added}"
    assert not dropped, f"update _coverage.INDEX: the document no longer has {dropped}"


def test_every_server_bound_id_has_a_case_or_a_declared_reason() -> None:
    rows = coverage(all_cases())
    assert [row.assertion for row in rows] == server_bound()
    undeclared = [row.assertion for row in rows if row.status == MISSING and row.assertion not in NOT_COVERED]
    assert not undeclared, f"server-bound IDs with neither a case nor a NOT_COVERED entry: {undeclared}"


def test_declared_ids_have_no_cases_and_a_reason() -> None:
    named = {case.assertion for case in all_cases()}
    for ident, (status, reason) in NOT_COVERED.items():
        assert INDEX[ident][1] in SERVER_PARTIES, f"{ident} does not bind servers"
        assert status in ("validator-only", "untestable", MISSING), ident
        assert reason, ident
        if status != MISSING:  # a gap that gained cases is simply covered
            assert ident not in named, f"{ident} has cases now: remove it from NOT_COVERED"


def test_covered_is_computed_from_the_cases() -> None:
    rows = {row.assertion: row for row in coverage(all_cases()[:1])}
    first = all_cases()[0]
    assert rows[first.assertion].status == COVERED
    assert rows[first.assertion].cases == (first.id,)
    others = [row for row in rows.values() if row.assertion != first.assertion]
    assert all(row.status != COVERED for row in others)


def test_coverage_table_lists_every_server_bound_id() -> None:
    cases = all_cases()
    table = coverage_table(coverage(cases), {cases[0].id: "passed"})
    lines = table.splitlines()
    counts = {status: sum(row.status == status for row in coverage(cases)) for status in (COVERED, MISSING)}
    assert lines[0].startswith(f"server-bound assertions: {len(server_bound())} ({counts[COVERED]} covered")
    assert [line.split()[0] for line in lines[1:]] == server_bound()
    assert any(line.startswith(cases[0].assertion) and "1 passed" in line for line in lines), table
    assert "PYRE-RESP-25    SHOULD  untestable      TCP keeps no write boundaries" in table


def test_the_guide_lists_exactly_the_declared_ids() -> None:
    guide = SPEC.with_name("conformance.md")
    if not guide.exists():
        pytest.skip("docs/spec is not part of this checkout")
    section = guide.read_text().split("### Coverage", 1)[1].split("###", 1)[0]
    listed = {}
    for row in re.findall(r"^\| (PYRE-[^|]+) \| ([a-z-]+) \|", section, re.M):
        for ident in row[0].split(", "):
            listed[ident.strip()] = row[1]
    assert listed == {ident: status for ident, (status, _) in NOT_COVERED.items()}


# -- the validated apps: a server-side violation fails any case with its ID --------


class _ListClient(RequestWrapper):
    """What a server that hands in request.client as a list looks like to the app."""

    @property
    def client(self) -> tuple[str, int] | None:
        return ["127.0.0.1", 1]  # type: ignore[return-value]


def _breaking_client(app: Application):  # type: ignore[no-untyped-def]
    async def broken(request: Request) -> Response:
        return await app(_ListClient(request))

    return serve(broken)


@pytest.mark.parametrize(
    "case_id",
    [
        "PYRE-BODY-3[content-length]",  # a wire case: the response carries the violation
        "PYRE-APP-2[called-once-before-body]",  # waits for the app: the control wait ends with it
        "PYRE-REQ-16[disconnected-flag]",
    ],
)
def test_a_server_side_violation_fails_an_unrelated_case_with_its_id(case_id: str) -> None:
    case = {c.id: c for c in all_cases()}[case_id]
    context = Context(_breaking_client, Limits(), timeout=3.0)
    try:
        with pytest.raises(SpecViolation) as caught:
            case.check(context)
    finally:
        context.close()
    assert caught.value.assertion == "PYRE-REQ-11", str(caught.value)


def _trailers_called_early(app: Application):  # type: ignore[no-untyped-def]
    """A server that calls a response's trailers before its last chunk (PYRE-RESP-15)."""

    async def early(request: Request) -> Response:
        response = await app(request)
        if response.trailers is not None:
            with contextlib.suppress(SpecViolation):
                await response.trailers()
        return response

    return serve(early)


def test_a_violation_found_while_sending_fails_the_case_after_it() -> None:
    case = {c.id: c for c in all_cases()}["PYRE-RESP-15[response-trailers]"]
    context = Context(_trailers_called_early, Limits(), timeout=3.0)
    try:
        with contextlib.suppress(AssertionError):
            case.check(context)  # the response itself may look right or be cut short
        with pytest.raises(SpecViolation) as caught:
            context.check_reported(case.app)
    finally:
        context.close()
    assert caught.value.assertion == "PYRE-RESP-15", str(caught.value)


def test_the_unchecked_app_is_not_validated() -> None:
    # It answers with its own transfer-encoding, which the validator would refuse app-side.
    context = Context(serve, Limits(), timeout=3.0)
    try:
        with context.connect(apps.unchecked) as client:
            client.send(b"GET /app-te HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.read_response().body == b"framed once"
    finally:
        context.close()


def test_unknown_expected_failure_is_refused() -> None:
    with pytest.raises(ValueError, match="PYRE-NOPE-1"):
        conformance_tests(lambda app: serve(app), expected_failures={"PYRE-NOPE-1[x]": "typo"})


def test_limit_cases_skip_without_the_limit() -> None:
    none = Limits(max_target=None, max_header_bytes=None, max_header_count=None, max_body=None)
    by_id = {case.id: case for case in all_cases(none)}
    assert by_id["PYRE-WIRE-5[long-target]"].skip_reason(none) is not None
    assert by_id["PYRE-BODY-7[chunked-over-limit]"].skip_reason(none) is not None
    assert by_id["PYRE-BODY-5[cl-te]"].skip_reason(none) is None


def test_limits_size_the_oversize_requests() -> None:
    small = Limits(max_target=100)
    case = {c.id: c for c in all_cases(small)}["PYRE-WIRE-5[long-target]"]
    request: bytes = case.check.args[0].request  # type: ignore[attr-defined]
    target = request.split(b" ")[1]
    assert len(target) == 101


# -- a server that gets HTTP wrong: the kit must say so ----------------------


async def _naive_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every blank-line-terminated chunk with 200; ignores framing entirely."""
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


@contextmanager
def naive_server(app: Application) -> Iterator[tuple[str, int]]:
    """A sync factory: the naive server on its own loop in a thread."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(_naive_connection, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        asyncio.run_coroutine_threadsafe(_shut_down(server), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _shut_down(server: asyncio.Server) -> None:
    server.close()
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize(
    "case_id",
    [
        "PYRE-BODY-5[cl-te]",
        "PYRE-BODY-5[te-cl]",
        "PYRE-REQ-10[missing-host]",
        "PYRE-HDR-5[obs-fold]",
        "PYRE-WIRE-5[long-target]",
        "PYRE-BODY-16[request-inside-content-length-body]",
        "PYRE-FRAME-6[connection-close]",
        "PYRE-FRAME-10[date]",
        "PYRE-FRAME-1[stream-chunked]",
    ],
)
def test_kit_fails_a_naive_server(case_id: str) -> None:
    case = {c.id: c for c in all_cases()}[case_id]
    context = Context(naive_server, Limits(), timeout=3.0)
    try:
        with pytest.raises(AssertionError):
            case.check(context)
    finally:
        context.close()


# -- both factory kinds work -------------------------------------------------


@contextmanager
def threaded_reference(app: Application) -> Iterator[tuple[str, int]]:
    """The reference server behind a sync factory, as a subprocess-style server would be."""
    loop = asyncio.new_event_loop()
    manager = serve(app)
    address = loop.run_until_complete(manager.__aenter__())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield address
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


def test_sync_factory_runs_cases() -> None:
    by_id = {c.id: c for c in all_cases()}
    context = Context(threaded_reference, Limits(), timeout=3.0)
    try:
        for case_id in (
            "PYRE-APP-3[three-gets]",
            "PYRE-FRAME-1[stream-chunked]",
            "PYRE-REQ-13[lifespan-state]",
        ):
            by_id[case_id].check(context)
        assert context.start_fails(apps.failing_lifespan) is not None
    finally:
        context.close()


# -- the report ----------------------------------------------------------------


def test_results_table_counts_per_assertion_and_level() -> None:
    results = Results()
    results.record("PYRE-WIRE-2[a]", "PYRE-WIRE-2", "SHOULD", "passed")
    results.record("PYRE-WIRE-10[a]", "PYRE-WIRE-10", "SHOULD", "failed")
    results.record("PYRE-WIRE-10[b]", "PYRE-WIRE-10", "SHOULD", "xfailed")
    results.record("PYRE-BODY-5[a]", "PYRE-BODY-5", "MUST", "passed")
    lines = results.table().splitlines()
    rows = [line.split() for line in lines if line.startswith("PYRE-")]
    assert rows == [
        ["PYRE-BODY-5", "MUST", "1", "0", "0", "0"],
        ["PYRE-WIRE-2", "SHOULD", "1", "0", "0", "0"],
        ["PYRE-WIRE-10", "SHOULD", "0", "1", "1", "0"],
    ]
    assert ["all", "SHOULD", "1", "1", "1", "0"] in [line.split() for line in lines]


def test_pytest_session_prints_report_and_honours_xfail(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(
        textwrap.dedent(
            """
            from reference_server import serve
            from pyre.spec.testing.conformance import conformance_tests

            TestConformance = conformance_tests(
                serve,
                expected_failures={
                    "PYRE-WIRE-7[chunk-extension-bws]": "h11",
                    "PYRE-WIRE-4[leading-crlf]": "wrongly expected to fail",
                },
                timeout=3.0,
            )
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "WIRE-7 or WIRE-4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out, _, covered = result.stdout.partition("coverage of the server-bound assertions")
    assert "pyre-spec conformance" in out, out
    assert "[XPASS(strict)] wrongly expected to fail" in out, out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("PYRE-")}
    assert rows["PYRE-WIRE-7"][:4] == ["MUST", "2", "0", "1"], out
    assert rows["PYRE-WIRE-4"][:4] == ["SHOULD", "1", "1", "0"], out
    assert f"server-bound assertions: {len(server_bound())} (" in covered, covered
    wire_7 = [line.split() for line in covered.splitlines() if line.startswith("PYRE-WIRE-7 ")]
    assert wire_7, covered
    assert wire_7[0][:3] == ["PYRE-WIRE-7", "MUST", "covered"], covered
    assert wire_7[0][-4:] == ["2", "passed,", "1", "xfailed"], covered
    assert result.returncode == 1
