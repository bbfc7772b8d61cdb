"""A gunicorn worker class: ``gunicorn -k pyre.server.gunicorn.PyreWorker module:app``.

gunicorn's arbiter binds, forks the workers, restarts them (HUP, ``--max-requests``,
a worker that died or stopped calling in within ``--timeout``) and stops them
(TERM: graceful, INT and QUIT: quick).  Each worker runs one ``Server`` on the
sockets the arbiter bound, with the settings gunicorn has that pyre-server shares.

Needs gunicorn (``pip install pyre-server[gunicorn]``); ``pyre.server`` itself never
imports this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Final

from gunicorn.arbiter import Arbiter
from gunicorn.errors import AppImportError
from gunicorn.workers.base import Worker

from pyre.spec import Application

from ._cli import adapt
from ._config import Config
from ._errors import AppLoadError, StartupError
from ._server import Server, new_event_loop

__all__ = ["PyreWorker"]

# Longest time between two heartbeats to the arbiter (and checks that it is still our parent).
HEARTBEAT: Final = 1.0


class PyreWorker(Worker):  # type: ignore[misc]  # gunicorn has no type hints
    """Serves a pyre-spec application, or an ASGI one through pyre-asgi (detected as
    ``pyre serve --interface auto`` does).

    gunicorn settings used: the bound sockets (``--bind``, TCP and Unix),
    ``--keep-alive`` (``timeout_keep_alive``), ``--graceful-timeout``
    (``timeout_drain``), ``--max-requests`` and its jitter (``limit_max_requests``),
    ``--limit-request-line``, ``--limit-request-fields`` (``limit_header_count``),
    ``--limit-request-field_size`` (``limit_header_field_size``),
    ``--timeout`` (the heartbeat), ``--certfile``, ``--keyfile``, ``--ca-certs``,
    ``--cert-reqs``, ``--ciphers``, ``--ssl-version`` (``ssl_*``), ``--access-logfile``
    (``access_log``), and the error and access loggers.
    """

    wsgi: Application  # gunicorn's name for the loaded app

    def init_signals(self) -> None:
        # gunicorn's base installs handlers that end the process from inside any frame
        # (INT, QUIT) or that the event loop would never see (TERM): those three are
        # the loop's, installed in run().  USR1 (reopen logs), ABRT (sent by the arbiter
        # to a worker that missed its --timeout: exits even while the loop is stuck)
        # and WINCH are gunicorn's own.
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.signal(signal.SIGABRT, self.handle_abort)
        signal.signal(signal.SIGWINCH, self.handle_winch)
        signal.siginterrupt(signal.SIGUSR1, False)

    def handle_abort(self, sig: int, frame: object) -> None:
        # gunicorn's own handler raises SystemExit in whatever frame runs, and a stuck
        # app's frame runs inside a protocol callback, where uvloop takes it for that
        # connection's error and goes on: the loop would call in again and never exit.
        self.alive = False
        self.cfg.worker_abort(self)
        os._exit(1)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        try:
            self.wsgi = adapt(self.wsgi, "auto", getattr(self.app, "app_uri", None) or "the application")
        except AppLoadError as error:
            raise AppImportError(str(error)) from error  # the arbiter stops, not respawns

    def run(self) -> None:
        for name, log in (("pyre.server", self.log.error_log), ("pyre.server.access", self.log.access_log)):
            logger = logging.getLogger(name)
            logger.handlers[:] = log.handlers
            logger.setLevel(log.level)
            logger.propagate = False
        try:
            config = self.pyre_config()
        except ValueError as error:
            self.log.error("pyre-server cannot take gunicorn's settings: %s", error)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(self._serve(config))

    def pyre_config(self) -> Config:
        """pyre-server's settings from gunicorn's."""
        cfg = self.cfg
        defaults = Config()
        keep_alive = cfg.keepalive
        if keep_alive <= 0:
            raise ValueError("--keep-alive 0: pyre-server always keeps HTTP/1.1 connections alive")
        field_size = cfg.limit_request_field_size
        return Config(
            access_log=bool(getattr(self.log, "access_log_enabled", cfg.accesslog)),
            timeout_keep_alive=float(keep_alive),
            timeout_drain=float(cfg.graceful_timeout) or defaults.timeout_drain,
            limit_max_requests=self.max_requests if self.max_requests < sys.maxsize else None,
            # gunicorn's 0 is "unlimited": pyre-server's own limits stay then.
            limit_request_line=cfg.limit_request_line or defaults.limit_request_line,
            limit_header_count=cfg.limit_request_fields or defaults.limit_header_count,
            # gunicorn's 0 is "unlimited" here too; a section always holds one field allowed.
            limit_header_field_size=field_size or None,
            limit_header_size=max(defaults.limit_header_size, field_size + 4),
            # TLS, when gunicorn has a certificate (its ssl_context hook is not called).
            ssl_certfile=cfg.certfile or None,
            ssl_keyfile=cfg.keyfile or None,
            ssl_version=int(cfg.ssl_version),
            ssl_cert_reqs=int(cfg.cert_reqs),
            ssl_ca_certs=cfg.ca_certs or None,
            ssl_ciphers=cfg.ciphers or None,
        )

    async def _serve(self, config: Config) -> None:
        server = Server(self.wsgi, config)
        sockets = [getattr(listener, "sock", listener) for listener in self.sockets]
        try:
            await server.start(sockets)
        except StartupError as error:
            self.log.error("%s", error)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()

        def graceful() -> None:
            self.alive = False
            stopping.set()

        def quick() -> None:
            self.alive = False
            self.cfg.worker_int(self)
            server.cancel_requests()
            stopping.set()

        loop.add_signal_handler(signal.SIGTERM, graceful)
        for signum in (signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(signum, quick)
        heartbeat = loop.create_task(self._heartbeat(stopping))
        limit = loop.create_task(server.limit_reached.wait())
        try:
            await asyncio.wait([heartbeat, limit], return_when=asyncio.FIRST_COMPLETED)
            if limit.done():
                self.log.info("Autorestarting worker after %d requests (--max-requests)", self.max_requests)
            await server.stop()
        finally:
            heartbeat.cancel()
            limit.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                loop.remove_signal_handler(signum)

    async def _heartbeat(self, stopping: asyncio.Event) -> None:
        """Tell the arbiter this worker's loop runs, until a signal stops it or the
        arbiter is gone (its workers are then adopted by another process)."""
        interval = min(HEARTBEAT, self.timeout / 2) if self.timeout else HEARTBEAT
        while not stopping.is_set():
            self.notify()
            if os.getppid() != self.ppid:
                self.log.info("Parent changed, shutting down: %s", self)
                return
            try:
                async with asyncio.timeout(interval):
                    await stopping.wait()
            except TimeoutError:
                pass
