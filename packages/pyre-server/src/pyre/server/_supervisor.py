"""``pyre serve --workers N``: a supervisor process and the worker processes it runs.

The supervisor binds the listening socket once and starts each worker as a new
interpreter running the same command line, which inherits the socket and serves
on it as ``Config.fd``.  Every worker accepts from that one socket's queue, so a
worker that stops accepting leaves no connection behind (``SO_REUSEPORT`` would
give each worker a queue of its own, lost with it).  A new interpreter rather than
``fork()``: a worker starts as clean as ``pyre serve`` itself (no supervisor state,
signal handlers or descriptors of other workers), it loads the code and the
``--env-file`` as they are when it starts, so that SIGHUP deploys both, and it
works where forking a running interpreter is unsafe (macOS).

Each worker holds the write end of a pipe to the supervisor.  Once it serves it
writes ``READY``, then a heartbeat from its event loop every quarter of
``timeout_worker_healthcheck``, and ``RECYCLE`` once it has reached
``limit_max_requests``.  A worker that falls silent (a handler blocks its loop) is
killed and replaced; a worker that finds the pipe broken (the supervisor died)
drains and exits.

The supervisor's signals:

=================  ==========================================================
SIGINT, SIGTERM    every worker drains, then the supervisor exits 0; a second
                   signal stops them at once (SIGQUIT to each)
SIGHUP             rolling restart: one worker at a time, a new one starts and
                   the old one drains once the new one serves
SIGTTIN, SIGTTOU   one worker more, one fewer
=================  ==========================================================

A worker drains on SIGTERM and stops at once on SIGQUIT.  It ignores SIGINT, which
a terminal's Ctrl-C sends to the whole process group: the supervisor decides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Final

from pyre.spec import Application

from ._config import Config
from ._server import Server, _remove_stale_socket, listen_error, new_event_loop

logger = logging.getLogger("pyre.server")

# How the supervisor tells a worker which descriptors are its socket and its pipe.
WORKER_ENV: Final = "_PYRE_WORKER_FDS"

# What a worker writes on its pipe, one byte each.
READY: Final = b"r"
HEARTBEAT: Final = b"."
RECYCLE: Final = b"m"

# Restarting a worker that died: at once the first time, then after a delay that
# doubles, up to _MAX_BACKOFF; a worker that ran _STABLE seconds resets it.
_FIRST_BACKOFF: Final = 0.5
_MAX_BACKOFF: Final = 30.0
_STABLE: Final = 10.0
# The supervisor's loop wakes at least this often (to reap, restart, check heartbeats).
_POLL: Final = 0.5


def supervised(config: Config) -> bool:
    """Whether ``pyre serve`` runs a supervisor: for workers, and for recycling
    (so that a replacement accepts before the recycled worker stops)."""
    return config.workers is not None or config.limit_max_requests is not None


def worker_count(config: Config) -> int:
    """``workers``: 0 is one per core this process may run on; unset (recycling only) is 1."""
    if config.workers is None:
        return 1
    if config.workers:
        return config.workers
    if sys.version_info >= (3, 13):
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# In a worker ------------------------------------------------------------------------------------


def become_worker() -> tuple[int, int] | None:
    """In a worker: the listening socket and the supervisor's pipe; else None.

    The variable naming them is removed, so that the app's own child processes do
    not inherit it.  A worker ignores SIGINT from here on: a terminal's Ctrl-C
    reaches the whole process group, and the supervisor decides what workers do.
    """
    value = os.environ.pop(WORKER_ENV, None)
    if value is None:
        return None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener, _, channel = value.partition(",")
    return int(listener), int(channel)


def run_worker(app: Application, config: Config, descriptors: tuple[int, int]) -> None:
    """Serve ``app`` on the supervisor's socket until SIGTERM (or the supervisor dies)."""
    listener, channel = descriptors
    config = dataclasses.replace(config, fd=listener, uds=None)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_work(app, config, channel))


async def _work(app: Application, config: Config, channel: int) -> None:
    loop = asyncio.get_running_loop()
    os.set_blocking(channel, False)
    stop = asyncio.Event()
    server = Server(app, config)

    def send(message: bytes) -> None:
        try:
            os.write(channel, message)
        except BlockingIOError:  # the supervisor is behind: it has heard from this worker
            pass
        except OSError:
            if not stop.is_set():
                logger.warning("The supervisor is gone: stopping")
                stop.set()

    def stop_now() -> None:
        stop.set()
        server.cancel_requests()

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGQUIT, stop_now)
    await server.start()
    send(READY)
    interval = config.timeout_worker_healthcheck / 4
    heartbeat: asyncio.TimerHandle | None = None

    def beat() -> None:
        nonlocal heartbeat
        send(HEARTBEAT)
        heartbeat = loop.call_later(interval, beat)

    async def recycle() -> None:
        await server.limit_reached.wait()
        send(RECYCLE)  # the supervisor starts a replacement, then sends SIGTERM

    beat()
    recycling = asyncio.create_task(recycle())
    try:
        await stop.wait()
        recycling.cancel()
        await server.stop()
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        os.close(channel)


# The supervisor ---------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    channel: int | None  # the read end of its pipe, until the worker closes it
    started: float
    last_heard: float | None = None  # watched from READY on
    stopping: bool = False
    killed: bool = False
    stale: bool = False  # to be replaced: a rolling restart, or its request limit
    replaces: _Worker | None = None  # started to take over from this one once it serves

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Binds once, runs ``worker_count(config)`` workers, and keeps them running."""

    def __init__(self, arguments: Sequence[str], config: Config, environ: Mapping[str, str]) -> None:
        self.command = [sys.executable, "-m", "pyre.server", *arguments]
        self.environ = dict(environ)
        self.config = config
        self.count = worker_count(config)
        self.listener = -1  # the listening socket's descriptor, once bound
        self.workers: list[_Worker] = []
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.served = False  # some worker has served: failures after that are restarted
        self.exit_status = 0
        self.failures = 0
        self.start_after = 0.0

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit status.  Raises ``StartupError``."""
        listener = self._listen()
        self.listener = listener.fileno()
        wakeup_read, wakeup_write = socket.socketpair()
        wakeup_read.setblocking(False)
        wakeup_write.setblocking(False)
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)
        signals = (*handled, signal.SIGCHLD)  # SIGCHLD only wakes the loop, to reap at once
        previous_handlers = {signum: signal.signal(signum, _ignore) for signum in signals}
        previous_wakeup = signal.set_wakeup_fd(wakeup_write.fileno(), warn_on_full_buffer=False)
        self.selector.register(wakeup_read, selectors.EVENT_READ, None)
        logger.info(
            "Supervisor [%d] starting %d worker%s on %s",
            os.getpid(),
            self.count,
            "" if self.count == 1 else "s",
            _describe(listener, "https" if self.config.ssl_certfile is not None else "http"),
        )
        try:
            self._loop(wakeup_read)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            self.selector.close()
            wakeup_read.close()
            wakeup_write.close()
            listener.close()
            if self.config.uds is not None:
                os.unlink(self.config.uds)
        logger.info("Supervisor [%d] stopped", os.getpid())
        return self.exit_status

    def _listen(self) -> socket.socket:
        config = self.config
        try:
            if config.fd is not None:
                return socket.socket(fileno=config.fd)
            if config.uds is not None:
                _remove_stale_socket(config.uds)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.bind(config.uds)
                sock.listen(config.backlog)
                return sock
            family, _, _, _, address = socket.getaddrinfo(
                config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            return socket.create_server(address, family=family, backlog=config.backlog)
        except OSError as error:
            raise listen_error(config, error) from None

    def _loop(self, wakeup: socket.socket) -> None:
        check_every = self.config.timeout_worker_healthcheck / 4
        while self.workers or not self.stopping:
            now = time.monotonic()
            timeout = min(_POLL, check_every)
            if self.start_after > now:
                timeout = min(timeout, self.start_after - now)
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    self._signalled(wakeup.recv(256))
                else:
                    self._heard(key.data)
            now = time.monotonic()
            self._reap(now)
            self._watch(now)
            self._maintain(now)

    # Signals

    def _signalled(self, signums: bytes) -> None:
        for signum in signums:
            if signum in (signal.SIGINT, signal.SIGTERM):
                self._on_stop(signal.Signals(signum).name)
            elif signum == signal.SIGHUP and not self.stopping:
                replacing = [w for w in self.workers if not w.stopping]
                logger.info("Received SIGHUP: replacing %d workers one at a time", len(replacing))
                for worker in replacing:
                    worker.stale = True
            elif signum == signal.SIGTTIN and not self.stopping:
                self.count += 1
                logger.info("Received SIGTTIN: %d workers", self.count)
            elif signum == signal.SIGTTOU and not self.stopping:
                if self.count == 1:
                    logger.warning("Received SIGTTOU: one worker is the fewest")
                else:
                    self.count -= 1
                    logger.info("Received SIGTTOU: %d workers", self.count)

    def _on_stop(self, name: str) -> None:
        if not self.stopping:
            logger.info("Received %s: draining the workers (send it again to stop at once)", name)
            self.stopping = True
            for worker in self.workers:
                if not worker.stopping:
                    self._stop(worker)
            return
        logger.warning("Received %s again: stopping now", name)
        for worker in self.workers:
            worker.process.send_signal(signal.SIGQUIT)

    # Workers

    def _heard(self, worker: _Worker) -> None:
        assert worker.channel is not None
        try:
            messages = os.read(worker.channel, 4096)
        except BlockingIOError:
            return
        if not messages:  # the worker closed its pipe: it is exiting
            self.selector.unregister(worker.channel)
            os.close(worker.channel)
            worker.channel = None
            return
        worker.last_heard = time.monotonic()
        if READY in messages:
            self.served = True
            old = worker.replaces
            if old is not None:
                worker.replaces = None
                if not old.stopping:
                    logger.info("Worker [%d] serves: worker [%d] drains", worker.pid, old.pid)
                    self._stop(old)
        if RECYCLE in messages and not worker.stale:
            logger.info("Worker [%d] reached its request limit: replacing it", worker.pid)
            worker.stale = True

    def _reap(self, now: float) -> None:
        for worker in [w for w in self.workers if w.process.poll() is not None]:
            self.workers.remove(worker)
            if worker.channel is not None:
                self.selector.unregister(worker.channel)
                os.close(worker.channel)
            status = _exit_status(worker.process.returncode)
            if worker.stopping:
                logger.info("Worker [%d] stopped (%s)", worker.pid, status)
            elif not self.served:
                logger.error("Worker [%d] failed to start (%s): stopping", worker.pid, status)
                self.exit_status = 1
                self.stopping = True
                for other in self.workers:
                    self._stop(other)
            else:
                self._restart_later(worker, status, now)

    def _restart_later(self, worker: _Worker, status: str, now: float) -> None:
        if now - worker.started >= _STABLE:
            self.failures = 0
        delay = self._back_off(now)
        when = f"in {delay:.1f} s" if delay else "now"
        logger.warning("Worker [%d] died (%s): starting another %s", worker.pid, status, when)

    def _back_off(self, now: float) -> float:
        """Hold back the next start after a failure; the delay."""
        delay = 0.0 if not self.failures else min(_MAX_BACKOFF, _FIRST_BACKOFF * 2 ** (self.failures - 1))
        self.failures += 1
        self.start_after = max(self.start_after, now + delay)
        return delay

    def _watch(self, now: float) -> None:
        """Kill a worker whose event loop has not written a heartbeat in time."""
        limit = self.config.timeout_worker_healthcheck
        for worker in self.workers:
            heard = worker.last_heard
            if heard is not None and not worker.killed and now - heard > limit:
                logger.error(
                    "Worker [%d] sent no heartbeat for %.1f s (its event loop is blocked): killing it",
                    worker.pid,
                    now - heard,
                )
                worker.killed = True
                worker.process.kill()

    def _maintain(self, now: float) -> None:
        """Start and stop workers until ``count`` serve and none is stale."""
        if self.stopping:
            return
        for worker in self.workers:
            old = worker.replaces
            if old is not None and (old.stopping or old not in self.workers):
                worker.replaces = None  # what it was to replace is gone: it serves in its stead
        serving = [w for w in self.workers if not w.stopping and w.replaces is None]
        if len(serving) > self.count:
            extra = sorted(serving, key=lambda w: (not w.stale, w.started))[: len(serving) - self.count]
            for worker in extra:
                self._stop(worker)
            return
        if now < self.start_after:
            return
        for _ in range(self.count - len(serving)):
            self._spawn()
        if not any(w.replaces is not None for w in self.workers):  # one replacement at a time
            stale = next((w for w in serving if w.stale), None)
            if stale is not None:
                replacement = self._spawn()
                if replacement is not None:
                    replacement.replaces = stale

    def _spawn(self) -> _Worker | None:
        read_end, write_end = os.pipe()
        environ = {**self.environ, WORKER_ENV: f"{self.listener},{write_end}"}
        try:
            process = subprocess.Popen(self.command, env=environ, pass_fds=(self.listener, write_end))
        except OSError as error:
            os.close(read_end)
            logger.error("Cannot start a worker: %s", error)
            self._back_off(time.monotonic())
            return None
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        worker = _Worker(process, read_end, time.monotonic())
        self.selector.register(read_end, selectors.EVENT_READ, worker)
        self.workers.append(worker)
        logger.info("Started worker [%d]", worker.pid)
        return worker

    def _stop(self, worker: _Worker) -> None:
        worker.stopping = True
        worker.process.send_signal(signal.SIGTERM)


def _ignore(signum: int, frame: object) -> None:
    """The handler of the supervisor's signals: they are read from the wakeup descriptor."""


def _exit_status(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _describe(listener: socket.socket, scheme: str) -> str:
    name = listener.getsockname()
    if listener.family == socket.AF_UNIX:
        return f"unix:{name}"
    if listener.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"
