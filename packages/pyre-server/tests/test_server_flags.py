"""uvicorn's other flags on ``pyre serve``: real processes, real sockets, real clients."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from server_support import Client, hello, listening, pyre_process, serve

from pyre.server import Config, __version__
from pyre.server._cli import parse
from pyre.spec import Request, Response

HERE = os.path.dirname(__file__)

APP = """\
import os
from pyre.spec import Response

async def app(request):
    return Response(200, body=os.environ.get("GREETING", "-").encode())
"""


def run(
    *arguments: str, cwd: str | Path = HERE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyre.server", *arguments],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


# -- values are checked ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["--port=99999"], {}, "port 99999 is not from 0 to 65535"),
        (["--port=-1"], {}, "port -1 is not from 0 to 65535"),
        ([], {"PYRE_PORT": "65536"}, "port 65536 is not from 0 to 65535"),
        (["--backlog=0"], {}, "backlog must be positive"),
        (["--reload-delay=0"], {}, "--reload-delay must be positive"),
        (["--ws-max-size=0"], {}, "--ws-max-size must be positive"),
        (["--header=no-colon"], {}, "is not NAME:VALUE"),
        (["--header=bad name: x"], {}, "is not a token"),
        (["--header=x-a: one\rtwo"], {}, "CR, LF or NUL"),
        (["--header=content-length: 5"], {}, "is the server's to send"),
        (["--header=x-café: 1"], {}, "header 'x-café'"),
        ([], {"PYRE_LIFESPAN": "sometimes"}, "PYRE_LIFESPAN='sometimes' is not valid"),
        (["--lifespan=sometimes"], {}, "invalid choice"),
        (["--interface=wsgi"], {}, "invalid choice"),
    ],
)
def test_bad_values_are_usage_errors(arguments: list[str], env: dict[str, str], message: str) -> None:
    result = run("server_apps:hello", *arguments, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Listening" not in result.stderr


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert re.fullmatch(
        rf"pyre-server {re.escape(__version__)} with CPython 3\.\d+\.\d+\S* on \w+\n", result.stdout
    )


def test_parsed_aliases_and_levels() -> None:
    args, config = parse(["m:app", "--timeout-graceful-shutdown=3", "--log-level=trace"], {})
    assert (config.timeout_drain, args.log_level) == (3.0, "trace")
    args, config = parse(["m:app", "--interface=asgi3", "--no-date-header", "--lifespan=off"], {})
    assert (args.interface, config.date_header, config.lifespan) == ("asgi", False, "off")
    args, config = parse(["m:app"], {"PYRE_HEADER": "x-one: 1\nx-two:2\n", "PYRE_DATE_HEADER": "0"})
    assert (config.headers, config.date_header) == ((("x-one", "1"), ("x-two", "2")), False)
    args, config = parse(["m:app", "--header=x-flag: f"], {"PYRE_HEADER": "x-env: e"})
    assert config.headers == (("x-flag", "f"),)  # the command line wins over the variable
    assert parse(["m:app"], {})[1] == Config()


# -- where the app comes from --------------------------------------------------------------------------


def test_app_dir(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "greeting_app.py").write_text(APP)
    with pyre_process(
        "greeting_app:app", "--port=0", "--app-dir", str(tmp_path / "elsewhere"), cwd=tmp_path / ".."
    ) as p:
        assert httpx.get(f"http://127.0.0.1:{listening(p)}/").text == "-"


def test_env_file_sets_what_the_environment_does_not(tmp_path: Path) -> None:
    pytest.importorskip("dotenv")
    (tmp_path / "greeting_app.py").write_text(APP)
    (tmp_path / "settings.env").write_text(
        textwrap.dedent(
            """\
            # dotenv syntax: comments, export, quotes
            export GREETING="hello from the env file"
            PYRE_SERVER_HEADER=false
            PYRE_ACCESS_LOG='no'
            PYRE_TIMEOUT_KEEP_ALIVE=7
            """
        )
    )
    with pyre_process("greeting_app:app", "--port=0", "--env-file=settings.env", cwd=tmp_path) as process:
        response = httpx.get(f"http://127.0.0.1:{listening(process)}/")
        assert response.text == "hello from the env file"
        assert "server" not in response.headers
    environment = {"GREETING": "from the real environment", "PYRE_ENV_FILE": "settings.env"}
    with pyre_process("greeting_app:app", "--port=0", cwd=tmp_path, env=environment) as process:
        assert httpx.get(f"http://127.0.0.1:{listening(process)}/").text == "from the real environment"


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    result = run("server_apps:hello", "--env-file", str(tmp_path / "absent.env"))
    assert result.returncode == 2
    assert "absent.env: no such file" in result.stderr


def test_env_file_without_python_dotenv_says_what_to_install(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked" / "dotenv"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('python-dotenv is blocked in this test')\n")
    (tmp_path / "settings.env").write_text("GREETING=hi\n")
    result = run(
        "server_apps:hello",
        "--env-file",
        str(tmp_path / "settings.env"),
        env={"PYTHONPATH": str(blocked.parent)},
    )
    assert result.returncode == 2
    assert "--env-file needs python-dotenv: pip install python-dotenv" in result.stderr


# -- logging -------------------------------------------------------------------------------------------


def _dict_config(log_file: Path) -> dict[str, object]:
    return {
        "version": 1,
        "formatters": {"plain": {"format": "CONFIGURED %(levelname)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"}
        },
        "loggers": {"pyre.server": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def _write_log_config(kind: str, directory: Path, log_file: Path) -> Path:
    if kind == "json":
        path = directory / "logging.json"
        path.write_text(json.dumps(_dict_config(log_file)))
    elif kind == "yaml":
        yaml = pytest.importorskip("yaml")
        path = directory / "logging.yaml"
        path.write_text(yaml.safe_dump(_dict_config(log_file)))
    else:
        path = directory / "logging.ini"
        path.write_text(
            textwrap.dedent(
                f"""\
                [loggers]
                keys=root,pyre
                [handlers]
                keys=file
                [formatters]
                keys=plain
                [logger_root]
                handlers=
                [logger_pyre]
                qualname=pyre.server
                level=INFO
                handlers=file
                propagate=0
                [handler_file]
                class=FileHandler
                args=({str(log_file)!r},)
                formatter=plain
                [formatter_plain]
                format=CONFIGURED %(levelname)s %(message)s
                """
            )
        )
    return path


@pytest.mark.parametrize("kind", ["json", "yaml", "ini"])
def test_log_config_file(kind: str, tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    config = _write_log_config(kind, tmp_path, log_file)
    with pyre_process("server_apps:hello", "--port=0", f"--log-config={config}") as process:
        deadline = 200
        while "Listening on" not in (log_file.read_text() if log_file.exists() else "") and deadline:
            deadline -= 1
            assert process.poll() is None
            asyncio.run(asyncio.sleep(0.05))
        assert re.search(r"CONFIGURED INFO Listening on http://127\.0\.0\.1:\d+", log_file.read_text())
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert process.stderr is not None
        assert "Listening" not in process.stderr.read()


def test_bad_log_config_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "logging.json"
    broken.write_text("{not json")
    result = run("server_apps:hello", f"--log-config={broken}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"pyre: error: cannot apply log config {broken}: JSONDecodeError")
    assert "Traceback" not in result.stderr


def test_colours_only_when_asked_or_on_a_terminal() -> None:
    seen: list[str] = []
    with pyre_process("server_apps:hello", "--port=0", "--use-colors") as process:
        listening(process, seen)
    assert "\x1b[32mINFO:\x1b[0m" in "".join(seen)
    seen = []
    with pyre_process("server_apps:hello", "--port=0") as process:  # stderr is a pipe: no colours
        listening(process, seen)
    assert "\x1b[" not in "".join(seen)
    assert "INFO:     Listening" in "".join(seen)


def test_trace_level_and_ignored_uvicorn_flags() -> None:
    seen: list[str] = []
    # (uvicorn's --http httptools is pyre's --http 1: test_server_http2.py.)
    uvicorn_only = ["--loop=uvloop", "--ws=wsproto", "--http2", "--ws-max-queue=32"]
    uvicorn_only += [
        "--ws-per-message-deflate=true",
        "--h11-max-incomplete-event-size=100",
        "--reset-contextvars",
    ]
    with pyre_process("server_apps:hello", "--port=0", "--log-level=trace", *uvicorn_only) as process:
        port = listening(process, seen)
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "hello from the command line"
    text = "".join(seen)
    for flag in ("--loop", "--ws", "--http2", "--ws-max-queue", "--ws-per-message-deflate"):
        assert f"WARNING:  {flag} is ignored: " in text
    assert "--h11-max-incomplete-event-size is ignored" in text
    assert "--reset-contextvars is ignored" in text


# -- lifespan ----------------------------------------------------------------------------------------


def test_lifespan_off_skips_it_and_on_requires_it() -> None:
    with pyre_process(
        "server_apps:failing", "--port=0", "--lifespan=off"
    ) as process:  # its startup would fail
        assert httpx.get(f"http://127.0.0.1:{listening(process)}/").text == "ok"
    result = run("server_apps:hello", "--port=0", "--lifespan=on")
    assert result.returncode == 1
    assert "pyre: error: lifespan is on, but the application has no lifespan method" in result.stderr
    with pyre_process("server_apps:lifespan", "--port=0", "--lifespan=on") as process:
        assert httpx.get(f"http://127.0.0.1:{listening(process)}/").text == "ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert process.stderr is not None
        assert "lifespan shutdown ran" in process.stderr.read()


# -- response heads ----------------------------------------------------------------------------------


async def test_extra_headers_on_every_response_and_the_date_switch() -> None:
    headers = (("X-Frame-Options", "DENY"), ("strict-transport-security", "max-age=60; includeSubDomains"))
    async with serve(hello, headers=headers) as server:
        client = await Client.connect(server.port)
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = await client.reply()
        assert reply.header(b"x-frame-options") == b"DENY"
        assert reply.header(b"strict-transport-security") == b"max-age=60; includeSubDomains"
        assert reply.header(b"date") is not None
        assert reply.header(b"server") == b"pyre"
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n")  # the server's own 400
        reply = await client.reply()
        assert reply.status == 400
        assert reply.header(b"x-frame-options") == b"DENY"
        await client.close()
    async with serve(hello, date_header=False) as server:
        client = await Client.connect(server.port)
        for _ in range(2):  # the second from the cache of heads
            await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            reply = await client.reply()
            assert reply.status == 200
            assert reply.header(b"date") is None
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: x\r\n\r\n")
        reply = await client.reply()
        assert reply.status == 400
        assert reply.header(b"date") is None
        await client.close()


async def test_the_apps_own_date_wins_and_extra_headers_stay() -> None:
    async def dated(request: Request) -> Response:
        return Response(200, [(b"date", b"Thu, 01 Jan 1970 00:00:00 GMT"), (b"server", b"app")], b"x")

    async with serve(dated, headers=(("x-extra", "1"),)) as server:
        client = await Client.connect(server.port)
        await client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = await client.reply()
        assert reply.all(b"date") == [b"Thu, 01 Jan 1970 00:00:00 GMT"]
        assert reply.all(b"server") == [b"app"]
        assert reply.all(b"x-extra") == [b"1"]
        await client.close()


def test_header_flag_from_the_command_line() -> None:
    with pyre_process(
        "server_apps:hello", "--port=0", "--header", "X-Served-By: pyre-1", "--no-date-header"
    ) as p:
        response = httpx.get(f"http://127.0.0.1:{listening(p)}/")
    assert response.headers["x-served-by"] == "pyre-1"
    assert "date" not in response.headers
