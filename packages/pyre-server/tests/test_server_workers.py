"""Workers: limit_max_requests on a Server, and ``pyre serve --workers`` with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from server_support import connect, hello, serve

from pyre.server import Config, Server
from pyre.server._cli import parse
from pyre.server._supervisor import supervised, worker_count

# limit_max_requests on one Server (what the supervisor and the gunicorn worker build on)


async def test_limit_reached_is_set_after_the_limit_of_requests_and_the_server_goes_on() -> None:
    async with serve(limit_max_requests=3) as server, connect(server) as client:
        assert server.request_limit == 3
        for _ in range(2):
            await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert (await client.reply()).status == 200
        await asyncio.sleep(0.6)  # two ticks of the clock
        assert not server.limit_reached.is_set()
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200
        await asyncio.wait_for(server.limit_reached.wait(), 2)
        # Recycling is up to whoever runs the server: until then it serves.
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200


async def test_no_limit_by_default() -> None:
    async with serve() as server, connect(server) as client:
        assert server.request_limit is None
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await client.reply()).status == 200
        await asyncio.sleep(0.3)
        assert not server.limit_reached.is_set()


def test_jitter_adds_up_to_its_value() -> None:
    config = Config(limit_max_requests=10, limit_max_requests_jitter=3)
    limits = {Server(hello, config).request_limit for _ in range(100)}
    assert limits == {10, 11, 12, 13}


def test_config_refuses_nonsense_limits() -> None:
    for options in ({"limit_max_requests": 0}, {"limit_max_requests_jitter": -1}):
        with pytest.raises(ValueError):
            Config(**options)  # type: ignore[arg-type]


# A graceful drain loses no request: what a rolling restart or a recycled worker relies on


async def test_a_connection_accepted_before_the_drain_gets_its_first_request_answered() -> None:
    async with serve(timeout_keep_alive=60) as server, connect(server) as client:
        await asyncio.sleep(0.05)  # accepted; the request is still on its way
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.05)
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = await client.reply()
        assert (reply.status, reply.body) == (200, b"Hello, world!")
        assert reply.header(b"connection") == b"close"
        assert await client.closed()
        await asyncio.wait_for(stopping, 5)


async def test_a_connection_that_sends_nothing_does_not_hold_up_the_drain() -> None:
    async with serve(timeout_keep_alive=60) as server, connect(server) as client:
        await asyncio.sleep(0.05)
        await asyncio.wait_for(server.stop(), 5)  # not the keep-alive timeout
        assert await client.closed()


# pyre serve --workers: a supervisor and real worker processes

HERE = os.path.dirname(__file__)
WAIT = 30.0  # the longest any step may take on a busy machine
PYRE_SERVE = [sys.executable, "-m", "pyre.server", "worker_apps:app"]


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def eventually(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def get(port: int, path: str = "/", timeout: float = 10) -> int:
    """One request on a new connection; the pid of the worker that answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body)
        return int(body)
    finally:
        connection.close()


class Supervisor:
    """``pyre serve worker_apps:app --workers ...`` on a socket the test binds (``--fd``)."""

    def __init__(self, tmp_path: Path, *arguments: str) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self.log_path = tmp_path / "supervisor.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*PYRE_SERVE, "--no-access-log", "--fd", str(listener.fileno()), *arguments],
                cwd=HERE,
                stderr=log,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # a process group of its own, as a terminal gives it
            )
        listener.close()
        self.seen: set[int] = set()  # every worker pid ever seen

    @property
    def workers(self) -> set[int]:
        found = children(self.process.pid)
        self.seen |= found
        return found

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def log(self) -> str:
        return self.log_path.read_text()

    def serving(self, count: int) -> set[int]:
        """Once ``count`` workers run and each has answered: their pids."""
        answered: set[int] = set()

        def ready() -> bool:
            workers = self.workers
            if len(workers) != count:
                return False
            answered.add(get(self.port))
            answered.intersection_update(workers)
            return answered == workers

        eventually(ready, f"{count} workers serving")
        return answered

    def close(self) -> None:
        workers = self.workers | self.seen
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(WAIT)
        for pid in workers:  # what is left of them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Supervisor]]:
    started: list[Supervisor] = []

    def start(*arguments: str) -> Supervisor:
        supervisor = Supervisor(tmp_path, *arguments)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.close()


class Load:
    """Clients in threads, each sending requests on new connections (so that they
    spread over the workers) until stopped; every answer and every failure is kept."""

    def __init__(self, port: int, clients: int = 2, limit: int = 20_000) -> None:
        self.port = port
        self.pids: list[int] = []
        self.failures: list[BaseException] = []
        self.running = True
        self.limit = limit  # requests per client, so that the load is bounded whatever happens
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(WAIT)

    def _client(self) -> None:
        for _ in range(self.limit):
            if not self.running:
                return
            try:
                self.pids.append(get(self.port))
            except Exception as error:
                self.failures.append(error)
            time.sleep(0.002)

    def answered_since(self, mark: int) -> set[int]:
        return set(self.pids[mark:])


def test_workers_serve_in_processes_of_their_own(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "2")
    pids = supervisor.serving(2)
    assert supervisor.process.pid not in pids
    assert f"Supervisor [{supervisor.process.pid}] starting 2 workers" in supervisor.log()
    assert get(supervisor.port, "/inherited") == 0  # the app's child processes are not workers


def test_a_killed_worker_comes_back_and_the_others_serve_on(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "2")
    victim, survivor = sorted(supervisor.serving(2))
    with Load(supervisor.port, clients=1) as load:
        eventually(lambda: len(load.pids) > 20, "requests answered")
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: len(supervisor.workers - {victim, survivor}) == 1, "a new worker")
        mark = len(load.pids)
        eventually(lambda: supervisor.workers <= load.answered_since(mark), "both workers answering")
    # One client, one request at a time: only the one the killed worker held can fail.
    assert len(load.failures) <= 1, load.failures
    assert load.answered_since(mark) == supervisor.workers  # the killed one answers no more
    assert survivor in supervisor.workers
    assert f"Worker [{victim}] died (killed by SIGKILL)" in supervisor.log()


def test_sighup_replaces_every_worker_and_loses_no_request(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "2")
    old = supervisor.serving(2)
    with Load(supervisor.port) as load:
        eventually(lambda: len(load.pids) > 20, "requests answered")
        supervisor.signal(signal.SIGHUP)
        eventually(lambda: not supervisor.workers & old and len(supervisor.workers) == 2, "new workers")
        mark = len(load.pids)
        eventually(lambda: supervisor.workers <= load.answered_since(mark), "the new workers answering")
    assert load.failures == []
    # (An answer an old worker sent just before it exited may be counted after the mark.)
    assert load.answered_since(mark) - old == supervisor.workers
    assert "Received SIGHUP: replacing 2 workers one at a time" in supervisor.log()


def test_sigttin_adds_a_worker_and_sigttou_removes_one(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "1")
    first = supervisor.serving(1)
    supervisor.signal(signal.SIGTTIN)
    assert supervisor.serving(2) > first
    supervisor.signal(signal.SIGTTOU)
    eventually(lambda: len(supervisor.workers) == 1, "one worker again")
    supervisor.signal(signal.SIGTTOU)  # not below one
    time.sleep(0.5)
    assert len(supervisor.serving(1)) == 1
    assert "one worker is the fewest" in supervisor.log()


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "sigint-to-the-process-group"])
def test_sigterm_drains_the_workers_and_the_supervisor_exits_0(
    supervise: Callable[..., Supervisor], ctrl_c: bool
) -> None:
    supervisor = supervise("--workers", "2")
    workers = supervisor.serving(2)
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(get(supervisor.port, "/slow")))
    slow.start()
    time.sleep(0.4)  # the request is in progress
    if (
        ctrl_c
    ):  # a terminal's Ctrl-C reaches every process of the group: the workers leave it to the supervisor
        os.killpg(supervisor.process.pid, signal.SIGINT)
    else:
        supervisor.signal(signal.SIGTERM)
    slow.join(WAIT)
    assert len(answers) == 1
    assert answers[0] in workers  # answered, by a worker that was draining
    assert supervisor.process.wait(WAIT) == 0
    assert all(not os.path.exists(f"/proc/{pid}") for pid in workers)
    log = supervisor.log()
    assert f"Received {'SIGINT' if ctrl_c else 'SIGTERM'}: draining the workers" in log
    assert all(f"Worker [{pid}] stopped (exit status 0)" in log for pid in workers)


def test_limit_max_requests_recycles_the_worker_without_a_failed_request(
    supervise: Callable[..., Supervisor],
) -> None:
    supervisor = supervise("--limit-max-requests", "30", "--limit-max-requests-jitter", "10")
    first = supervisor.serving(1)
    with Load(supervisor.port, clients=1) as load:
        eventually(lambda: len(set(load.pids)) >= 3, "two recycled workers")
    assert load.failures == []
    assert first < set(load.pids)
    counts = [load.pids.count(pid) for pid in dict.fromkeys(load.pids)]
    assert all(count >= 30 for count in counts[:-1]), counts  # none recycled before its limit
    assert "reached its request limit: replacing it" in supervisor.log()


def test_a_worker_whose_event_loop_is_blocked_is_replaced(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "2", "--timeout-worker-healthcheck", "1")
    before = supervisor.serving(2)
    failures: list[Exception] = []

    def request_blocking() -> None:
        try:
            get(supervisor.port, "/block")
        except Exception as error:  # the worker holding it is killed
            failures.append(error)

    blocked = threading.Thread(target=request_blocking)
    blocked.start()
    eventually(lambda: len(supervisor.workers - before) == 1, "a new worker", timeout=15)
    blocked.join(WAIT)
    assert len(failures) == 1
    after = supervisor.serving(2)
    assert len(after & before) == 1
    assert "sent no heartbeat for" in supervisor.log()
    assert "(its event loop is blocked): killing it" in supervisor.log()


def test_workers_on_a_unix_socket_the_supervisor_binds(tmp_path: Path) -> None:
    path = str(tmp_path / "pyre.sock")
    process = subprocess.Popen(
        [*PYRE_SERVE, "--uds", path, "--workers", "2"],
        cwd=HERE,
        stderr=subprocess.DEVNULL,
    )
    try:
        pids: set[int] = set()

        def both_answered() -> bool:
            if len(children(process.pid)) == 2 and os.path.exists(path):
                with contextlib.suppress(ConnectionRefusedError):
                    pids.add(_get_over_unix_socket(path))
            return len(pids) == 2

        eventually(both_answered, "two workers answering on the Unix socket")
        assert pids == children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
        assert not os.path.exists(path)  # removed by the supervisor, which made it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


def _get_over_unix_socket(path: str) -> int:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(4096):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return int(body)


def test_the_supervisor_binds_the_port_and_says_where(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [*PYRE_SERVE, "--port", "0", "--workers", "2"],
            cwd=HERE,
            stderr=stderr,
        )
    try:
        eventually(lambda: "starting 2 workers on http://127.0.0.1:" in log.read_text(), "the address")
        match = re.search(r"starting 2 workers on http://127\.0\.0\.1:(\d+)", log.read_text())
        assert match
        port = int(match.group(1))
        pids: set[int] = set()
        eventually(lambda: pids.add(get(port)) or len(pids) == 2, "both workers answering")
        assert pids == children(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0


def test_workers_that_fail_to_start_stop_the_supervisor(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyre.server", "worker_apps:missing", "--port", "0", "--workers", "2"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 1
    assert "has no attribute 'missing'" in result.stderr
    assert "failed to start (exit status 1): stopping" in result.stderr


def test_workers_stop_when_the_supervisor_is_killed(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "2", "--timeout-worker-healthcheck", "1")
    workers = supervisor.serving(2)
    supervisor.process.kill()
    supervisor.process.wait(WAIT)
    eventually(lambda: all(not os.path.exists(f"/proc/{pid}") for pid in workers), "the workers gone")


def test_reload_and_workers_are_refused_together(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["m:app", "--reload", "--workers", "2"], {})
    assert exit_info.value.code == 2
    assert "give --workers or --reload, not both" in capsys.readouterr().err


def test_workers_flags_and_variables() -> None:
    assert parse(["m:app"], {})[1].workers is None
    assert parse(["m:app", "--workers", "auto"], {})[1].workers == 0
    assert parse(["m:app"], {"PYRE_WORKERS": "3"})[1].workers == 3
    assert parse(["m:app"], {"WEB_CONCURRENCY": "4"})[1].workers == 4  # uvicorn's variable
    assert parse(["m:app", "--workers", "2"], {"WEB_CONCURRENCY": "4"})[1].workers == 2
    _, config = parse(
        [
            *("m:app", "--limit-max-requests", "100", "--limit-max-requests-jitter", "9"),
            *("--timeout-worker-healthcheck", "2.5"),
        ],
        {},
    )
    assert (config.limit_max_requests, config.limit_max_requests_jitter) == (100, 9)
    assert config.timeout_worker_healthcheck == 2.5
    assert supervised(config)
    assert worker_count(config) == 1
    assert worker_count(Config(workers=0)) == len(os.sched_getaffinity(0))
    assert worker_count(Config(workers=3)) == 3
    assert not supervised(Config())
    for bad in (["--workers", "-1"], ["--workers", "many"], ["--timeout-worker-healthcheck", "0"]):
        with pytest.raises(SystemExit):
            parse(["m:app", *bad], {})


def test_an_address_the_supervisor_cannot_bind_is_an_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*PYRE_SERVE, "--port", str(port), "--workers", "2"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert result.returncode == 1
    assert f"pyre: error: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Started worker" not in result.stderr


def test_a_worker_that_keeps_dying_is_restarted_with_back_off(supervise: Callable[..., Supervisor]) -> None:
    supervisor = supervise("--workers", "1")
    for _ in range(3):
        (worker,) = supervisor.serving(1)
        os.kill(worker, signal.SIGKILL)
        eventually(lambda dead=worker: dead not in supervisor.workers, "the worker gone")
    supervisor.serving(1)
    deaths = re.findall(r"died \(killed by SIGKILL\): starting another (now|in [\d.]+ s)", supervisor.log())
    assert deaths == ["now", "in 0.5 s", "in 1.0 s"]


def test_workers_on_the_socket_systemd_passed() -> None:
    """As examples/deploy's unit runs it: socket activation (fd 3, LISTEN_PID) and --workers."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def become_activated() -> None:  # in the child, between fork and exec, as systemd does
        os.dup2(listener.fileno(), 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    process = subprocess.Popen(
        [*PYRE_SERVE, "--workers", "2"],
        cwd=HERE,
        pass_fds=(3, listener.fileno()),
        preexec_fn=become_activated,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    try:
        pids: set[int] = set()
        eventually(lambda: pids.add(get(port)) or len(pids) == 2, "both workers answering")
        assert pids == children(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
