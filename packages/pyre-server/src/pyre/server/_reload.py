"""``--reload``: run the server in a child process and restart it when a watched file changes.

Uses watchfiles when it is installed (``pyre-server[reload]``), else polls
modification times with the standard library.  A child that exits (an app that
fails to import, a syntax error) is started again at the next change.  For
development only: restarts drop requests in progress.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Final

logger = logging.getLogger("pyre.server")

# uvicorn's defaults.
DEFAULT_INCLUDES: Final = ("*.py",)
DEFAULT_EXCLUDES: Final = (".*", ".py[cod]", ".sw.*", "~*")
# Never worth walking into, whatever the patterns say.
_PRUNED_DIRECTORIES: Final = frozenset({"__pycache__", "node_modules", "site-packages"})
# How long a child gets to drain before it is killed.
_STOP_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Watch:
    """What ``--reload`` watches: files under ``directories`` whose name matches an
    include and no part of whose path (below the directory) matches an exclude."""

    directories: tuple[Path, ...]
    includes: tuple[str, ...]
    excludes: tuple[str, ...]
    delay: float

    @classmethod
    def from_flags(
        cls, directories: Sequence[str], includes: Sequence[str], excludes: Sequence[str], delay: float
    ) -> Watch:
        """As uvicorn has it: a pattern included explicitly is no longer excluded by default, and
        the other way round."""
        roots = tuple(Path(directory).resolve() for directory in directories) or (Path.cwd(),)
        for root in roots:
            if not root.is_dir():
                raise ValueError(f"--reload-dir {root} is not a directory")
        return cls(
            directories=roots,
            includes=tuple(p for p in (*DEFAULT_INCLUDES, *includes) if p not in excludes),
            excludes=tuple(p for p in (*DEFAULT_EXCLUDES, *excludes) if p not in includes),
            delay=delay,
        )

    def watches(self, path: str) -> bool:
        """Whether a change to the file at ``path`` restarts the server."""
        parts = self._parts(Path(path))
        if parts is None or not any(fnmatch.fnmatch(parts[-1], p) for p in self.includes):
            return False
        return not any(self._excluded(part) for part in parts)

    def _parts(self, path: Path) -> tuple[str, ...] | None:
        for root in self.directories:
            if path.is_relative_to(root):
                return path.relative_to(root).parts or None
        return None

    def _excluded(self, name: str) -> bool:
        return name in _PRUNED_DIRECTORIES or any(fnmatch.fnmatch(name, p) for p in self.excludes)

    def changes(self) -> Iterator[list[str]]:
        """Every ``delay`` seconds or so, the watched files changed since the last time (often none)."""
        try:
            import watchfiles
        except ImportError:
            logger.info("Polling for changes (pip install watchfiles to be told of them instead)")
            return self._poll()
        logger.info("Watching for changes with watchfiles")
        return self._watchfiles(watchfiles)

    def _watchfiles(self, watchfiles: ModuleType) -> Iterator[list[str]]:
        timeout = max(1, round(self.delay * 1000))  # so that a child's exit is seen as soon
        for batch in watchfiles.watch(
            *self.directories,
            watch_filter=lambda _change, path: self.watches(path),
            rust_timeout=timeout,
            yield_on_timeout=True,
        ):
            yield sorted({path for _change, path in batch})

    def _poll(self) -> Iterator[list[str]]:
        before = self._snapshot()
        while True:
            time.sleep(self.delay)
            now = self._snapshot()
            yield sorted(path for path in before.keys() | now.keys() if before.get(path) != now.get(path))
            before = now

    def _snapshot(self) -> dict[str, int]:
        times = {}
        for root in self.directories:
            for directory, subdirectories, files in os.walk(root):
                subdirectories[:] = [name for name in subdirectories if not self._excluded(name)]
                for name in files:
                    path = os.path.join(directory, name)
                    if self.watches(path):
                        try:
                            times[path] = os.stat(path).st_mtime_ns
                        except FileNotFoundError:  # removed while walking: the next walk says so
                            pass
        return times

    def describe(self) -> str:
        return (
            f"{', '.join(map(str, self.directories))} "
            f"(include {' '.join(self.includes)}; exclude {' '.join(self.excludes)})"
        )


def run_reloading(arguments: Sequence[str], watch: Watch) -> int:
    """Run ``python -m pyre.server`` with ``arguments`` until SIGINT or SIGTERM, restarting it on change."""
    command = [sys.executable, "-m", "pyre.server", *(a for a in arguments if a != "--reload")]
    environment = {**os.environ, "PYRE_RELOAD": "0"}
    signal.signal(signal.SIGTERM, _interrupt)
    logger.info("Reloading on changes under %s", watch.describe())
    child: subprocess.Popen[bytes] | None = subprocess.Popen(command, env=environment)
    try:
        for changed in watch.changes():
            if changed:
                logger.info("%s changed; restarting", _names(changed))
                _stop(child)
                child = subprocess.Popen(command, env=environment)
            elif child is not None and child.poll() is not None:
                logger.error(
                    "The server exited with status %d; it restarts when a watched file changes",
                    child.returncode,
                )
                child = None
    except KeyboardInterrupt:
        _stop(child)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("The server did not stop within %.0f s; killing it", _STOP_TIMEOUT)
        child.kill()
        child.wait()


def _names(paths: list[str]) -> str:
    shown = ", ".join(os.path.relpath(path) for path in paths[:3])
    return shown if len(paths) <= 3 else f"{shown} and {len(paths) - 3} more"
