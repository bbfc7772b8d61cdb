"""``--reload``: run the server in a child process and restart it when source changes.

Polls modification times with the standard library, so it needs no extra
package.  For development only: restarts drop requests in progress.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

logger = logging.getLogger("pyre.server")

POLL_INTERVAL = 0.5
_SKIPPED_DIRECTORIES = frozenset(
    {".git", ".venv", "venv", "__pycache__", ".nox", ".tox", "node_modules", "site"}
)


def run_reloading(arguments: Sequence[str]) -> int:
    child_arguments = [argument for argument in arguments if argument != "--reload"]
    environment = {**os.environ, "PYRE_RELOAD": "0"}
    command = [sys.executable, "-m", "pyre.server", *child_arguments]
    snapshot = _snapshot(os.getcwd())
    logger.info("Watching %d Python files under %s for changes", len(snapshot), os.getcwd())
    while True:
        child = subprocess.Popen(command, env=environment)
        try:
            while child.poll() is None:
                time.sleep(POLL_INTERVAL)
                current = _snapshot(os.getcwd())
                if current != snapshot:
                    snapshot = current
                    logger.info("Source changed; restarting")
                    child.terminate()
                    child.wait()
                    break
            else:
                return child.returncode
        except KeyboardInterrupt:
            child.terminate()
            child.wait()
            return 0


def _snapshot(root: str) -> dict[str, float]:
    return {path: os.stat(path).st_mtime for path in _python_files(root)}


def _python_files(root: str) -> Iterator[str]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in _SKIPPED_DIRECTORIES]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(directory, name)
