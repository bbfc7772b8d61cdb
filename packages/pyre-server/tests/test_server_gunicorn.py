"""A real gunicorn arbiter with ``-k pyre.server.gunicorn.PyreWorker``: its bind, workers,
max-requests, HUP, TERM, QUIT, --timeout and request limits, on a pyre-spec app.

(An ASGI app through the same worker needs pyre-asgi: tests/test_asgi_gunicorn.py.)
"""

from __future__ import annotations

import http.client
import importlib.util
import pathlib
import signal
import socket
import ssl
import threading
import time

import pytest
from gunicorn_support import BOOT_TIMEOUT, Gunicorn, gunicorn, until

pytest.importorskip("gunicorn")

APP = """
import asyncio, os, pathlib, time
from pyre.spec import Response

async def app(request):
    if request.path == "/slow":
        pathlib.Path("slow-started").touch()
        await asyncio.sleep(float(request.query or b"2"))
    elif request.path == "/scheme":
        return Response(200, body=request.scheme.encode())
    elif request.path == "/stuck":
        time.sleep(60)  # blocks the worker's event loop
    return Response(200, [(b"content-type", b"text/plain")], str(os.getpid()).encode())
"""


@pytest.fixture
def app_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "pyre_app.py").write_text(APP)
    return tmp_path


def test_two_workers_serve_a_pyre_app_on_tcp_and_a_unix_socket(app_dir: pathlib.Path) -> None:
    path = app_dir / "pyre.sock"
    with gunicorn(app_dir, "pyre_app:app", "-b", f"unix:{path}") as server:
        workers = server.workers()
        assert len(workers) == 2
        status, body = server.get()
        assert status == 200
        assert int(body) in workers
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = b""
            while chunk := sock.recv(4096):
                raw += chunk
        assert raw.startswith(b"HTTP/1.1 200 ")
        assert int(raw.partition(b"\r\n\r\n")[2]) in workers


def test_keep_alive_setting_is_the_idle_timeout(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app", "--keep-alive", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
            started = time.monotonic()
            assert sock.recv(4096) == b""  # closed by the server once idle
        assert time.monotonic() - started < 5  # gunicorn's 1 s, not pyre-server's default of 5


def test_idle_workers_keep_telling_the_arbiter_they_are_alive(app_dir: pathlib.Path) -> None:
    # With --timeout 2 the arbiter kills a worker that has not called in for 2 s.
    with gunicorn(app_dir, "pyre_app:app", "--timeout", "2") as server:
        workers = server.workers()
        time.sleep(5)
        assert server.workers() == workers
        assert "WORKER TIMEOUT" not in server.output()


def test_a_stuck_worker_is_killed_by_the_timeout(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app", "--timeout", "2", workers=1) as server:
        (stuck,) = server.workers()
        outcome: list[object] = []

        def request_stuck() -> None:
            try:
                outcome.append(server.get("/stuck", timeout=30))
            except (OSError, http.client.HTTPException) as error:
                outcome.append(error)

        thread = threading.Thread(target=request_stuck)
        thread.start()
        until(lambda: stuck not in server.workers(), what="the stuck worker to be killed")
        thread.join(30)
        assert outcome
        assert isinstance(outcome[0], OSError | http.client.HTTPException)
        assert "WORKER TIMEOUT" in server.output()
        until(lambda: len(server.workers()) == 1, what="a replacement worker")
        status, body = server.get()
        assert status == 200
        assert int(body) != stuck


def test_max_requests_recycles_workers_and_no_request_fails(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app", "--max-requests", "10", "--max-requests-jitter", "5") as server:
        first = server.workers()
        pids = set()
        for _ in range(120):
            status, body = server.get()
            assert status == 200
            pids.add(int(body))
            time.sleep(0.01)
        assert pids - first  # answered by workers started after the first ones recycled
        assert "Autorestarting worker after" in server.output()


def _load(server: Gunicorn, stop: threading.Event, results: list[object]) -> None:
    while not stop.is_set():
        try:
            results.append(server.get())
        except (OSError, http.client.HTTPException) as error:
            results.append(error)


def test_hup_restarts_every_worker_and_no_request_fails(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app") as server:
        old = server.workers()
        stop = threading.Event()
        results: list[object] = []
        clients = [threading.Thread(target=_load, args=(server, stop, results)) for _ in range(2)]
        for client in clients:
            client.start()
        try:
            until(lambda: len(results) > 20, what="requests before HUP")
            server.signal(signal.SIGHUP)
            until(lambda: len(server.workers()) == 2 and not server.workers() & old, what="new workers")
            served_before = len(results)
            until(lambda: len(results) > served_before + 20, what="requests after HUP")
        finally:
            stop.set()
            for client in clients:
                client.join(BOOT_TIMEOUT)
        failures = [result for result in results if not isinstance(result, tuple) or result[0] != 200]
        assert failures == []
        assert {int(result[1]) for result in results[-10:] if isinstance(result, tuple)} <= server.workers()


def test_sigterm_lets_a_slow_request_finish(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app", "--graceful-timeout", "20") as server:
        outcome: list[tuple[int, str]] = []
        thread = threading.Thread(target=lambda: outcome.append(server.get("/slow?3", timeout=30)))
        thread.start()
        until(lambda: (app_dir / "slow-started").exists(), what="the slow request to start")
        server.signal(signal.SIGTERM)
        thread.join(30)
        assert len(outcome) == 1
        status, _ = outcome[0]
        assert status == 200
        assert server.process.wait(BOOT_TIMEOUT) == 0


def test_sigquit_stops_without_waiting_for_a_slow_request(app_dir: pathlib.Path) -> None:
    with gunicorn(app_dir, "pyre_app:app", "--graceful-timeout", "60") as server:
        outcome: list[object] = []

        def request_slow() -> None:
            try:
                outcome.append(server.get("/slow?60", timeout=60))
            except (OSError, http.client.HTTPException) as error:
                outcome.append(error)

        thread = threading.Thread(target=request_slow)
        thread.start()
        until(lambda: (app_dir / "slow-started").exists(), what="the slow request to start")
        server.signal(signal.SIGQUIT)
        # Well before the request's 60 s or the graceful timeout's.
        assert server.process.wait(20) == 0
        thread.join(20)
        assert outcome
        assert not isinstance(outcome[0], tuple) or outcome[0][0] == 503


def test_request_line_and_field_limits_are_gunicorns(app_dir: pathlib.Path) -> None:
    options = (
        "--limit-request-line",
        "100",
        "--limit-request-fields",
        "5",
        "--limit-request-field_size",
        "100",
    )
    with gunicorn(app_dir, "pyre_app:app", *options) as server:
        assert server.get("/" + "a" * 90)[0] == 200
        assert server.get("/" + "a" * 200)[0] == 414  # pyre-server's default allows 8190
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.putrequest("GET", "/")
            for number in range(10):
                connection.putheader(f"x-field-{number}", "value")
            connection.endheaders()
            assert connection.getresponse().status == 431
        finally:
            connection.close()
        for size, status in ((90, 200), (200, 431)):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request("GET", "/", headers={"x-big": "v" * size})
                assert connection.getresponse().status == status
            finally:
                connection.close()


def test_gunicorns_certificate_serves_https(app_dir: pathlib.Path) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    pem = app_dir / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    with gunicorn(app_dir, "pyre_app:app", "--certfile", str(pem), "--keyfile", str(pem), tls=True) as server:
        context = ssl.create_default_context()
        authority.configure_trust(context)
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
        try:
            connection.request("GET", "/scheme")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"https")
        finally:
            connection.close()
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            server.get("/scheme")  # plain HTTP on the TLS port is not served


def test_an_app_that_is_not_an_application_stops_gunicorn(tmp_path: pathlib.Path) -> None:
    (tmp_path / "not_app.py").write_text("app = 42\n")
    with pytest.raises(AssertionError, match="gunicorn exited"), gunicorn(tmp_path, "not_app:app"):
        pass


@pytest.mark.skipif(importlib.util.find_spec("pyre.asgi") is not None, reason="pyre-asgi is installed")
def test_an_asgi_app_without_pyre_asgi_stops_gunicorn_and_says_why(tmp_path: pathlib.Path) -> None:
    (tmp_path / "asgi_app.py").write_text("async def app(scope, receive, send):\n    pass\n")
    with pytest.raises(AssertionError, match="pip install pyre-asgi"), gunicorn(tmp_path, "asgi_app:app"):
        pass
