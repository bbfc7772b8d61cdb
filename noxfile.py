"""Every check Pyre runs, in one place: ``nox`` runs the default set.

Each package's tests run in a venv holding only that package and its declared
dependencies, so an undeclared import of a sibling package fails there.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import zipfile

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
# In CI a Python the sessions ask for and cannot find fails the run; on a machine with
# only some of them, nox skips the others' sessions and says so.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests-spec",
    "tests-server",
    "tests-server-compiled",
    "tests-framework",
    "tests-asgi",
    "tests-asgi-compiled",
    "integration",
    "torture",
    "interop",
    "build",
    "docs",
]

ROOT = pathlib.Path(__file__).parent


def _put_pyenv_pythons_on_path() -> None:
    """pyenv installs 3.11, 3.12 and 3.13 side by side, but its ``python3.12`` shim fails
    unless 3.12 is the selected version: each minor version's newest install goes on
    PATH ahead of the shims, so nox finds every interpreter the sessions ask for."""
    versions = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    found = []
    for minor in ("3.11", "3.12", "3.13"):
        installs = sorted(
            versions.glob(f"{minor}.*"),
            key=lambda path: [int(part) for part in path.name.split(".") if part.isdigit()],
        )
        if installs:
            found.append(str(installs[-1] / "bin"))
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_pythons_on_path()
PACKAGES = ["spec", "server", "framework", "asgi"]
# Checks that do not depend on the interpreter (lint, types, build, docs) run on the
# oldest supported Python; the test suites run on every Python the classifiers promise.
PYTHON = "3.11"
PYTHONS = ["3.11", "3.12", "3.13"]
TEST_TOOLS = ["pytest>=8", "pytest-asyncio>=0.24", "pytest-timeout>=2.3", "hypothesis>=6.100"]

# What each package's own tests need beyond the package: its pyre siblings
# (from this checkout, never from an index) ...
PACKAGE_TEST_SIBLINGS: dict[str, list[str]] = {
    "spec": [],
    "server": ["spec"],
    "framework": ["spec"],
    "asgi": ["spec"],
}
# ... and third-party software it is tested against: h11 runs the spec kit's reference server
# and is pyre-server's oracle for what a strict parser refuses, anyio's cancel scopes must
# work inside pyre-server's Task-free handlers; trustme makes the TLS tests' certificates and
# httpx is one of their clients; gunicorn runs the PyreWorker tests.
PACKAGE_TEST_PEERS: dict[str, list[str]] = {
    "spec": ["h11>=0.14"],
    "server": [
        "anyio>=4",
        "h11>=0.14",
        "httpx>=0.27",
        "trustme>=1.1",
        "gunicorn>=22",
        # pyre-server's optional extras (reload, dotenv) and --log-config's YAML
        "watchfiles>=0.20",
        "python-dotenv>=1.0",
        "pyyaml>=6",
    ],
    # its templates and settings extras (tests/test_templating.py, tests/test_settings_docs.py)
    "framework": ["jinja2>=3.1", "pydantic-settings>=2.0"],
    "asgi": [],
}
INTEGRATION_PEERS = [
    "uvicorn[standard]>=0.30",
    "hypercorn>=0.17",
    "granian>=1.6",
    "starlette>=0.37",
    "fastapi>=0.110",
    "httpx[http2]>=0.27",  # http2=True in the HTTP/2 tests, with h2's client for raw frames
    "quart>=0.19",
    "websockets>=12",
    "trustme>=1.1",
    "gunicorn>=22",
]


def package_dir(name: str) -> str:
    return str(ROOT / "packages" / f"pyre-{name}")


def install_packages(session: nox.Session, *names: str) -> None:
    session.install(*(package_dir(name) for name in names))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("mypy>=1.11", *TEST_TOOLS)
    install_packages(session, *PACKAGES)
    # pyre-server's and pyre-framework's optional extras: the code that imports them is checked too.
    session.install(f"{package_dir('server')}[gunicorn,reload,dotenv]")
    session.install(f"{package_dir('framework')}[templates]")
    # Checked from source through MYPYPATH: a package's own ``types.py`` must not
    # be mistaken for the standard library's when mypy walks directories.
    sources = ":".join(f"{package_dir(name)}/src" for name in PACKAGES)
    modules = [arg for name in PACKAGES for arg in ("-p", f"pyre.{name}")]
    session.run("mypy", "--strict", *modules, env={"MYPYPATH": sources})
    # What users write against the public API type-checks too (tests/typing: checked, not run).
    session.run("mypy", "--strict", "tests/typing", env={"MYPYPATH": sources})


def make_package_tests(name: str) -> None:
    @nox.session(name=f"tests-{name}", python=PYTHONS)
    def tests(session: nox.Session) -> None:
        session.install(*TEST_TOOLS, *PACKAGE_TEST_PEERS[name])
        install_packages(session, *PACKAGE_TEST_SIBLINGS[name], name)
        session.run("pytest", f"{package_dir(name)}/tests", *session.posargs)


for _name in PACKAGES:
    make_package_tests(_name)


# The compiled builds (mypyc, each package's hatch_build.py): what turns them on, and a module
# that must then be an extension module rather than the .py beside it.
COMPILE = {
    "server": ("PYRE_SERVER_COMPILE", "pyre.server._core"),
    "asgi": ("PYRE_ASGI_COMPILE", "pyre.asgi._from_asgi"),
}


def build_compiled_wheel(session: nox.Session, name: str, dist: pathlib.Path) -> pathlib.Path:
    variable = COMPILE[name][0]
    session.install("build>=1.2")
    session.run(
        "python", "-m", "build", "--wheel", "--outdir", str(dist), package_dir(name), env={variable: "1"}
    )
    (wheel,) = dist.glob(f"pyre_{name}-*.whl")
    return wheel


def make_compiled_tests(name: str) -> None:
    @nox.session(name=f"tests-{name}-compiled", python=PYTHON)
    def tests(session: nox.Session) -> None:
        if not shutil.which("cc") and not os.environ.get("CI"):
            # mypyc needs a C compiler; .ci/run installs one, a dev machine may have none.
            session.skip("no C compiler (cc): the compiled build cannot be built here")
        session.install(*TEST_TOOLS, *PACKAGE_TEST_PEERS[name])
        # Not session.create_tmp(): it points TMPDIR into .nox, and the Unix socket paths
        # the suite makes under it grow past AF_UNIX's 108 bytes.
        dist = pathlib.Path(session.virtualenv.location) / f"compiled-{name}"
        shutil.rmtree(dist, ignore_errors=True)
        wheel = build_compiled_wheel(session, name, dist)
        install_packages(session, "spec")
        session.install("--force-reinstall", "--no-deps", str(wheel))
        session.install(str(wheel))  # its dependencies
        probe = f"import {COMPILE[name][1]} as m, sys; sys.exit(not m.__file__.endswith(('.so', '.pyd')))"
        session.run("python", "-c", probe)  # the suite below runs the compiled modules, not the .py
        session.run("pytest", f"{package_dir(name)}/tests", *session.posargs)

    tests.__doc__ = f"pyre-{name}'s suite against its compiled wheel ({COMPILE[name][0]}=1: mypyc)."


for _name in COMPILE:
    make_compiled_tests(_name)


@nox.session(python=PYTHONS)
def integration(session: nox.Session) -> None:
    """All packages together, against real third-party servers and frameworks."""
    session.install(*TEST_TOOLS, *INTEGRATION_PEERS)
    install_packages(session, *PACKAGES)
    session.run("pytest", str(ROOT / "tests"), *session.posargs)


# The servers the torture suite measures pyre-server against (its table names the versions it ran).
# h2's client-side connection and hyperframe send the HTTP/2 attacks (torture/test_http2_attacks.py).
TORTURE_PEERS = ["uvicorn[standard]>=0.30", "granian>=1.6", "h11>=0.14", "h2>=4.1"]


@nox.session(python=PYTHON)
def torture(session: nox.Session) -> None:
    """Attacks on live server processes (torture/): ``-- --soak`` for the long mode (~15 minutes),
    ``-- --write-report`` to regenerate docs/reliability.md from the run."""
    session.install(*TEST_TOOLS, *TORTURE_PEERS)
    install_packages(session, "spec", "server", "asgi")
    session.run("pytest", str(ROOT / "torture"), *session.posargs)


# Third-party projects' own test suites, run against live pyre-server by ``python -m interop``
# (interop/): each project pinned, with what its tests import.
INTEROP_PEERS = [
    "httpx[brotli,cli,http2,socks,zstd]==0.28.1",
    "click==8.1.8",  # httpx's CLI tests use isolated_filesystem, deprecated in later 8.x
    "trustme==1.2.1",
    "chardet==7.7.0",
    "trio==0.35.0",
    "starlette[full]==1.10.0",
    "httpx2==2.16.2",
    "opentelemetry-sdk==1.45.2",
    "uvicorn==0.54.0",
    "websockets==17.4",  # the live client's WebSockets, and uvicorn's
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "pip",  # fetches the suites' sdists
]


@nox.session(python=PYTHON)
def interop(session: nox.Session) -> None:
    """httpx's and Starlette's own suites on live pyre-server; ``-- --server uvicorn`` to compare."""
    session.install(*INTEROP_PEERS)
    install_packages(session, "spec", "server", "asgi")
    for suite in ("httpx", "starlette"):
        session.run("python", "-m", "interop", suite, *session.posargs)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Wheel and sdist of every package, checked by twine; spec's wheel must work alone."""
    session.install("build>=1.2", "twine>=5", "uv>=0.4")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for name in PACKAGES:
        session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(dist), package_dir(name))
    session.run("twine", "check", "--strict", *(str(p) for p in sorted(dist.iterdir())))
    check_namespace(dist)
    check_spec_wheel_alone(session, dist)


def check_namespace(dist: pathlib.Path) -> None:
    """PEP 420: a ``pyre/__init__.py`` in any wheel would shadow the other packages."""
    for wheel in dist.glob("*.whl"):
        names = zipfile.ZipFile(wheel).namelist()
        if "pyre/__init__.py" in names:
            raise RuntimeError(f"{wheel.name} ships pyre/__init__.py")
        if not any(name.endswith("/py.typed") for name in names):
            raise RuntimeError(f"{wheel.name} ships no py.typed")


def check_spec_wheel_alone(session: nox.Session, dist: pathlib.Path) -> None:
    wheel = next(dist.glob("pyre_spec-*.whl"))
    venv = pathlib.Path(session.create_tmp()) / "spec-alone"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("uv", "venv", "--quiet", "--python", PYTHON, str(venv))
    python = str(venv / "bin" / "python")
    session.run("uv", "pip", "install", "--quiet", "--python", python, str(wheel))
    probe = "from pyre.spec import SPEC_VERSION; print('pyre.spec', SPEC_VERSION)"
    session.run(python, "-c", probe, external=True)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    session.install("mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.30")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Serve the example application on http://127.0.0.1:8000."""
    install_packages(session, *PACKAGES)
    session.run("python", "-m", "pyre.server", "examples.demo:app", *session.posargs)


# The peers the benchmark suite measures Pyre against, pinned so that a report
# names exactly what it ran.
BENCH_PEERS = [
    "uvicorn[standard]==0.54.0",
    "httptools==0.9.0",
    "uvloop==0.23.0",
    "granian==2.8.7",
    "hypercorn==0.18.0",
    "starlette==1.10.0",
    "fastapi==0.165.0",
    "litestar==2.25.0",
    "blacksheep==2.6.4",
    "falcon==4.4.0",
    "matplotlib==3.11.2",
    "trustme==1.2.1",
    # the HTTP/2 cases' answer checks (h2load itself is Debian's nghttp2-client)
    "httpx[http2]==0.28.1",
    "h2==4.4.1",
]


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Side-by-side performance suite: ``nox -s bench -- --quick`` for a short run, ``-- --help``."""
    session.install(*BENCH_PEERS)
    # Editable, so every run measures the checkout as it is now; a package that
    # does not install yet is reported by the suite as unavailable, not fatal.
    for name in PACKAGES:
        try:
            session.install("-e", package_dir(name))
        except nox.command.CommandFailed:
            session.warn(f"pyre-{name} did not install; its benchmark rows will say unavailable")
    compiled = _compiled_bench_venv(session)
    env = {"PYRE_BENCH_COMPILED_PYTHON": str(compiled)} if compiled else {}
    session.run("python", "-m", "benchmarks", *session.posargs, env=env)


def _compiled_bench_venv(session: nox.Session) -> pathlib.Path | None:
    """A second venv, pyre-server and pyre-asgi compiled by mypyc, for the ``-compiled`` targets;
    None (those targets unavailable) if they do not build."""
    venv = pathlib.Path(session.create_tmp()) / "compiled-venv"
    dist = venv.parent / "compiled-wheels"
    shutil.rmtree(dist, ignore_errors=True)
    try:
        wheels = [str(build_compiled_wheel(session, name, dist)) for name in COMPILE]
        session.run("python", "-m", "venv", "--clear", str(venv))
        python = venv / "bin" / "python"
        pure = [package_dir(name) for name in PACKAGES if name not in COMPILE]
        apps = [peer for peer in BENCH_PEERS if peer.split("=")[0] in BENCH_COMPILED_APP_PEERS]
        session.run(str(python), "-m", "pip", "install", "--quiet", *pure, *wheels, *apps, external=True)
    except nox.command.CommandFailed:
        session.warn("the compiled build did not build; its benchmark rows will say unavailable")
        return None
    return python


# What the apps of the -compiled targets import besides Pyre (pyre-framework's own dependencies
# come with it).
BENCH_COMPILED_APP_PEERS = {"starlette", "fastapi", "uvloop", "httptools"}
