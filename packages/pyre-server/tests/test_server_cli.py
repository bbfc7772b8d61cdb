"""``pyre serve`` / ``python -m pyre.server``: options, environment, app loading, process behaviour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import server_apps
from server_support import listening, pyre_process

from pyre.server import AppLoadError, Config
from pyre.server._cli import adapt, parse

HERE = os.path.dirname(__file__)


def test_flags_and_defaults() -> None:
    args, config = parse(["m:app"], {})
    assert config == Config()
    assert (args.interface, args.log_level, args.factory, args.reload) == ("auto", "info", None, None)
    args, config = parse(
        [
            "m:app",
            "--host=0.0.0.0",
            "--port=9000",
            "--no-access-log",
            "--timeout-keep-alive=2.5",
            "--limit-body-size=100",
            "--limit-header-count=5",
            "--root-path=/api",
            "--interface=pyre",
            "--log-level=debug",
            "--factory",
        ],
        {},
    )
    assert (config.host, config.port, config.access_log, config.timeout_keep_alive) == (
        "0.0.0.0",
        9000,
        False,
        2.5,
    )
    assert (config.limit_body_size, config.limit_header_count, config.root_path) == (100, 5, "/api")
    assert (args.interface, args.log_level, args.factory) == ("pyre", "debug", True)


def test_environment_variables_fill_what_flags_leave_out() -> None:
    environ = {
        "PYRE_APP": "m:app",
        "PYRE_PORT": "9001",
        "PYRE_HOST": "::1",
        "PYRE_ACCESS_LOG": "false",
        "PYRE_TIMEOUT_HEADER": "3",
        "PYRE_LOG_LEVEL": "WARNING",
        "PYRE_INTERFACE": "asgi",
        "PYRE_UDS": "/tmp/p.sock",
    }
    args, config = parse(["--port=9002"], environ)
    assert args.app == "m:app"
    assert (config.port, config.host, config.access_log, config.timeout_header) == (9002, "::1", False, 3.0)
    assert (config.uds, args.log_level, args.interface) == ("/tmp/p.sock", "warning", "asgi")


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {}, "MODULE:ATTR"),
        (["m:app"], {"PYRE_PORT": "eighty"}, "PYRE_PORT"),
        (["m:app", "--limit-body-size=0"], {}, "limit_body_size"),
        (["m:app", "--interface=wsgi"], {}, "invalid choice"),
    ],
)
def test_bad_options_exit_with_a_usage_error(
    argv: list[str], environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv, environ)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_interface_detection() -> None:
    async def pyre_app(request: object) -> object: ...

    assert adapt(pyre_app, "auto", "m:pyre_app") is pyre_app
    assert adapt(server_apps.asgi_app, "pyre", "m:asgi_app") is server_apps.asgi_app


class AsgiClass:
    async def __call__(self, scope: object, receive: object, send: object) -> None: ...


async def two_arguments(request: object, extra: object) -> None: ...


def test_without_pyre_asgi_auto_serves_only_what_takes_one_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an ASGI app is stays pyre-asgi's to say; without it, auto only checks the pyre-spec shape.
    monkeypatch.setitem(sys.modules, "pyre.asgi", None)  # as if pyre-asgi were not installed

    async def pyre_app(request: object, /, *extra: object) -> object: ...

    for app in (pyre_app, server_apps.hello, server_apps.lifespan, print):
        assert adapt(app, "auto", "m:app") is app
    for app in (server_apps.asgi_app, AsgiClass(), two_arguments, lambda: None):
        with pytest.raises(AppLoadError, match=r"not a pyre-spec application; .* pip install pyre-asgi"):
            adapt(app, "auto", "m:app")


def test_asgi_app_without_pyre_asgi_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyre.asgi", None)  # as if pyre-asgi were not installed
    with pytest.raises(AppLoadError, match="pip install pyre-asgi"):
        adapt(server_apps.asgi_app, "auto", "m:asgi_app")
    with pytest.raises(AppLoadError, match="pip install pyre-asgi"):
        adapt(server_apps.hello, "asgi", "m:hello")


def test_serves_then_exits_0_on_sigterm_after_lifespan_shutdown() -> None:
    with pyre_process("server_apps:lifespan", "--port=0") as process:
        port = listening(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.read() == b"ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert process.stderr is not None
        assert "lifespan shutdown ran" in process.stderr.read()


def test_factory_and_sigint() -> None:
    with pyre_process("server_apps:make_app", "--factory", "--port=0", "--no-access-log") as process:
        port = listening(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.read() == b"hello from the command line"
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("server_apps:failing", "lifespan startup failed: RuntimeError: cannot reach the database"),
        ("no_such_module:app", "cannot import module 'no_such_module'"),
        ("server_apps:missing", "module 'server_apps' has no attribute 'missing'"),
        ("server_apps:not_callable", "server_apps:not_callable is not callable"),
        ("server_apps", "'server_apps' is not MODULE:ATTR"),
    ],
)
def test_startup_failures_exit_1_with_one_line(target: str, message: str) -> None:
    with pyre_process(target, "--port=0") as process:
        assert process.wait(20) == 1
        assert process.stderr is not None
        errors = process.stderr.read()
    assert f"pyre: error: {message}" in errors
    assert "Traceback" not in errors


def test_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pyre_process("server_apps:hello", f"--port={port}") as process:
            assert process.wait(20) == 1
            assert process.stderr is not None
            errors = process.stderr.read().strip().splitlines()
    assert errors == [f"pyre: error: cannot listen on 127.0.0.1:{port}: address already in use"]


def test_reload_restarts_the_server_when_source_changes(tmp_path: object) -> None:
    module = f"{tmp_path}/reloaded_app.py"
    source = (
        "from pyre.spec import Response\n\n"
        "async def app(request):\n"
        "    return Response(200, body=b'version %d')\n"
    )
    with open(module, "w") as file:
        file.write(source % 1)
    process = subprocess.Popen(
        [sys.executable, "-m", "pyre.server", "reloaded_app:app", "--reload", "--port=0", "--no-access-log"],
        cwd=str(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = listening(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.read() == b"version 1"
        time.sleep(0.1)
        with open(module, "w") as file:
            file.write(source % 2)
        port = listening(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.read() == b"version 2"
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"the server exited before logging {text!r}"
        if text in line:
            return
    raise AssertionError(f"the server did not log {text!r}")


def test_sigterm_during_lifespan_startup_is_a_graceful_stop_after_it() -> None:
    # Signal handlers are in place before the startup: the default action would kill
    # the process with no lifespan shutdown (exit -15).
    with pyre_process("server_apps:slow_startup", "--port=0") as process:
        wait_for_line(process, "lifespan startup began")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert process.stderr is not None
        assert "lifespan shutdown ran" in process.stderr.read()


def test_a_second_signal_gives_up_a_startup_that_hangs() -> None:
    with pyre_process("server_apps:hung_startup", "--port=0") as process:
        wait_for_line(process, "lifespan startup began")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 1
        assert process.stderr is not None
        assert "stopped by a second signal before the server had started" in process.stderr.read()
