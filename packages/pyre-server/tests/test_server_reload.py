"""``pyre serve --reload``: a real reloader process, a real server child, real files changed.

Each test runs with watchfiles and with the polling fallback (watchfiles made
unimportable by a package on PYTHONPATH that raises ImportError).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("watchfiles")

SOURCE = "from pyre.spec import Response\n\nasync def app(request):\n    return Response(200, body=b'%s')\n"


class Reloader:
    """``pyre serve --reload`` in ``directory``, its stderr read line by line in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}") from None
            assert line, f"the reloader exited; saw {self.seen}"
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def listening(self) -> int:
        return int(self.expect(r"Listening on http://127\.0\.0\.1:(\d+)").group(1))


@pytest.fixture(params=["watchfiles", "polling"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment for each backend."""
    if request.param == "watchfiles":
        return {}
    blocker = tmp_path / "blocked" / "watchfiles"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('watchfiles is blocked in this test')\n")
    return {"PYTHONPATH": str(blocker.parent)}


@contextmanager
def reloading(directory: Path, environment: dict[str, str], *flags: str) -> Iterator[Reloader]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyre.server",
            "served:app",
            "--reload",
            "--port=0",
            "--no-access-log",
            *flags,
        ],
        cwd=directory,
        env={**os.environ, **environment},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Reloader(process)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def get(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def write(path: Path, text: str) -> None:
    """Write, and move the modification time on: two writes within a clock tick look like one."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if before:
        later = max(before + 1_000_000_000, path.stat().st_mtime_ns)
        os.utime(path, ns=(later, later))


def test_a_change_restarts_the_server(tmp_path: Path, backend: dict[str, str]) -> None:
    app = tmp_path / "served.py"
    write(app, SOURCE % "one")
    with reloading(tmp_path, backend, "--reload-delay=0.1") as reloader:
        reloader.expect("watchfiles" if not backend else "Polling")
        assert get(reloader.listening()) == b"one"
        write(app, SOURCE % "two")
        reloader.expect(r"served\.py changed; restarting")
        assert get(reloader.listening()) == b"two"


def test_a_broken_app_is_retried_at_the_next_change(tmp_path: Path, backend: dict[str, str]) -> None:
    app = tmp_path / "served.py"
    write(app, "def broken(:\n")
    with reloading(tmp_path, backend, "--reload-delay=0.1") as reloader:
        reloader.expect(r"SyntaxError")
        reloader.expect(r"The server exited with status 1; it restarts when a watched file changes")
        write(app, SOURCE % "fixed")
        assert get(reloader.listening()) == b"fixed"
        write(app, "raise RuntimeError('broken again')\n")
        reloader.expect(r"RuntimeError: broken again")
        reloader.expect(r"The server exited with status 1")
        write(app, SOURCE % "fixed again")
        assert get(reloader.listening()) == b"fixed again"


def test_excludes_and_includes_are_honoured(tmp_path: Path, backend: dict[str, str]) -> None:
    app = tmp_path / "served.py"
    write(app, SOURCE % "one")
    skipped = tmp_path / "generated_table.py"
    write(skipped, "")
    hidden = tmp_path / ".hidden"
    hidden.mkdir()
    write(hidden / "inside.py", "")
    template = tmp_path / "page.html"
    write(template, "<p>")
    flags = ("--reload-delay=0.1", "--reload-exclude=generated_*.py", "--reload-include=*.html")
    with reloading(tmp_path, backend, *flags) as reloader:
        assert get(reloader.listening()) == b"one"
        write(skipped, "TABLE = 1\n")  # excluded by the flag
        write(hidden / "inside.py", "X = 1\n")  # in a directory excluded by default (.*)
        write(tmp_path / "notes.txt", "not watched")  # matches no include
        time.sleep(2.5)  # longer than watchfiles' debounce and many polls
        write(template, "<p>changed")  # included by the flag
        changed = reloader.expect(r"(.*) changed; restarting").group(1)
        assert changed.strip().endswith("page.html"), changed
        assert get(reloader.listening()) == b"one"


def test_only_the_reload_dirs_are_watched(tmp_path: Path, backend: dict[str, str]) -> None:
    app = tmp_path / "served.py"
    write(app, SOURCE % "one")
    source = tmp_path / "src"
    source.mkdir()
    write(source / "module.py", "")
    with reloading(tmp_path, backend, "--reload-delay=0.1", "--reload-dir=src") as reloader:
        assert get(reloader.listening()) == b"one"
        write(app, SOURCE % "two")  # outside src: not watched
        time.sleep(2.5)
        assert get(_port(reloader)) == b"one"
        write(source / "module.py", "X = 1\n")
        changed = reloader.expect(r"(.*) changed; restarting").group(1)
        assert "module.py" in changed
        assert "served.py" not in changed
        assert get(reloader.listening()) == b"two"


def _port(reloader: Reloader) -> int:
    """The port of the server still running: the last one it said it listens on."""
    for line in reversed(reloader.seen):
        match = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("not listening")


def test_a_missing_reload_dir_is_an_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyre.server", "served:app", "--reload", "--reload-dir=nowhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert "--reload-dir" in result.stderr
    assert "is not a directory" in result.stderr


def test_sigterm_stops_the_reloader_and_its_server(tmp_path: Path, backend: dict[str, str]) -> None:
    write(tmp_path / "served.py", SOURCE % "one")
    process = subprocess.Popen(
        [sys.executable, "-m", "pyre.server", "served:app", "--reload", "--port=0", "--reload-delay=0.1"],
        cwd=tmp_path,
        env={**os.environ, **backend},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reloader = Reloader(process)
        port = reloader.listening()
        assert get(port) == b"one"
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        with pytest.raises(OSError):  # the server child is gone too
            get(port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
