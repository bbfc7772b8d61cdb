"""Run a third-party project's own test suite against a live server.

::

    python -m interop httpx [--server pyre|uvicorn] [-- PYTEST-ARGS...]
    python -m interop starlette [--server pyre|uvicorn] [-- PYTEST-ARGS...]

The suite's pinned sdist is fetched from PyPI with pip, its ``tests/`` (and the
``pyproject.toml`` that configures pytest for them) unpacked into a temporary directory,
and pytest run there with this project's plugin for that suite, which swaps the suite's
in-process server for a live one. The suite's own package is the installed one, pinned to
the same version.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile

from interop._live import SERVERS

# The suites, each pinned: its sdist's tests are the ones that run.
SUITES = {
    "httpx": ("httpx==0.28.1", "interop.httpx_suite"),
    "starlette": ("starlette==1.10.0", "interop.starlette_suite"),
}
ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m interop", description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--server", choices=SERVERS, default="pyre")
    arguments = sys.argv[1:]
    split = arguments.index("--") if "--" in arguments else len(arguments)
    options = parser.parse_args(arguments[:split])
    options.pytest_args = arguments[split + 1 :]
    requirement, plugin = SUITES[options.suite]
    with tempfile.TemporaryDirectory(prefix=f"interop-{options.suite}-") as work:
        suite = unpack_tests(download_sdist(requirement, pathlib.Path(work)), pathlib.Path(work))
        env = dict(os.environ, INTEROP_SERVER=options.server)
        # The listed ids are checked against what was collected only on a full run.
        env["INTEROP_CHECK_STALE"] = "0" if options.pytest_args else "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        targets = [] if any(arg.startswith("tests") for arg in options.pytest_args) else ["tests"]
        # --tb=native: on CPython 3.11 pytest's own traceback rendering can die with
        # "SystemError: AST constructor recursion depth mismatch" on Starlette's tests.
        # --timeout (pytest-timeout): a request that hangs fails its test, not the run.
        pytest = [sys.executable, "-m", "pytest", "-p", plugin, "--tb=native", "--timeout=60"]
        command = [*pytest, *targets, *options.pytest_args]
        print(f"interop: {options.suite} on {options.server}: {' '.join(command[1:])}", flush=True)
        return subprocess.call(command, cwd=suite, env=env)


def download_sdist(requirement: str, work: pathlib.Path) -> pathlib.Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*command, "--dest", str(work), requirement], check=True)
    (sdist,) = work.glob("*.tar.gz")
    return sdist


def unpack_tests(sdist: pathlib.Path, work: pathlib.Path) -> pathlib.Path:
    """Unpack ``tests/`` and ``pyproject.toml`` from the sdist; return the directory holding them."""
    with tarfile.open(sdist) as archive:
        (top,) = {name.split("/", 1)[0] for name in archive.getnames()}
        wanted = [
            member
            for member in archive.getmembers()
            if member.name == f"{top}/pyproject.toml" or member.name.startswith(f"{top}/tests/")
        ]
        archive.extractall(work, members=wanted, filter="data")
    return work / top


if __name__ == "__main__":
    sys.exit(main())
