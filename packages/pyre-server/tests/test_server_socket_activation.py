"""systemd socket activation: LISTEN_FDS and LISTEN_PID, a socket passed as fd 3.

pyre-server is started here as systemd starts it: the listening socket bound by
the parent, duplicated onto fd 3 in the child, and LISTEN_PID set to the child's
own pid just before it executes the server (sd_listen_fds(3)).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest

from pyre.server._cli import parse

HERE = os.path.dirname(__file__)
TIMEOUT = 20


def test_listen_fds_for_this_process_is_fd_3() -> None:
    _, config = parse(["m:app"], {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"})
    assert config.fd == 3


def test_listen_fds_for_another_process_is_ignored() -> None:
    _, config = parse(["m:app"], {"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    assert config.fd is None


def test_an_explicit_socket_wins() -> None:
    _, config = parse(["m:app", "--uds", "/tmp/x.sock"], {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"})
    assert config.fd is None


@pytest.mark.parametrize("count", ["0", "2", "x"])
def test_other_than_one_socket_is_an_error(count: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["m:app"], {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": count})
    assert exited.value.code == 2
    assert "LISTEN_FDS" in capsys.readouterr().err


def activated(listener: socket.socket, *arguments: str) -> subprocess.Popen[str]:
    """``python -m pyre.server`` started the way systemd starts a socket-activated service."""
    fd = listener.fileno()

    def become_activated() -> None:  # in the child, between fork and exec
        os.dup2(fd, 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    return subprocess.Popen(
        [sys.executable, "-m", "pyre.server", *arguments],
        cwd=HERE,
        pass_fds=(3, fd),
        preexec_fn=become_activated,  # env=None: the child's own environment, as changed there
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_on_the_socket_systemd_passed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        process = activated(listener, "server_apps:hello", "--no-access-log")
        listener.close()  # the server's copy is the only one left
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            while line and "Listening on" not in line:
                line = process.stderr.readline()
            assert f"127.0.0.1:{port}" in line, line
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=TIMEOUT) as response:
                assert response.status == 200
        finally:
            process.terminate()
            assert process.wait(TIMEOUT) == 0
            assert process.stderr is not None
            process.stderr.close()
