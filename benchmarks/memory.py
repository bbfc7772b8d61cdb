"""The memory case: server RSS with many idle keep-alive connections.

A client process, pinned to the load core, opens the connections, makes one
request on each (so the server has set up its per-connection state), and keeps
them open while the parent reads the server's resident memory from /proc.  The
suite runs it as ``python -m benchmarks.memory PORT COUNT``: it prints one JSON
line when the connections are up, and after the parent's go-ahead on stdin, one
more saying how many of them the server had kept open.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from .checks import WrongAnswer, read_reply
from .processes import ROOT, ServerProcess, child_environment, group_rss_kib, raise_file_limit
from .targets import HOST

CONNECTIONS = 10_000
OPEN_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 2.0
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@dataclass(frozen=True)
class MemoryResult:
    connections: int
    idle_kib: int
    loaded_kib: int
    still_open: int

    @property
    def per_connection_kib(self) -> float:
        return (self.loaded_kib - self.idle_kib) / self.connections


def connection_budget(wanted: int) -> int:
    """As many connections as the file limit allows each side, with room for the server's own files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(wanted, hard - 200)


def measure(server: ServerProcess, core: int, wanted: int) -> MemoryResult:
    count = connection_budget(wanted)
    idle_kib = group_rss_kib(server.pid)
    client = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-m", "benchmarks.memory", str(server.port), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_environment(),
        preexec_fn=raise_file_limit,
    )
    try:
        stdin, stdout = client.stdin, client.stdout
        assert stdin is not None
        assert stdout is not None
        opened = json.loads(stdout.readline() or '{"opened": 0, "error": "the client failed"}')
        if opened["opened"] < count:
            client.kill()
            raise RuntimeError(f"opened {opened['opened']} of {count} connections: {opened['error']}")
        time.sleep(SETTLE_SECONDS)
        loaded_kib = group_rss_kib(server.pid)
        stdin.write("go\n")
        stdin.flush()
        still_open = json.loads(stdout.readline() or '{"open": 0}')["open"]
    finally:
        client.kill()
        client.wait()
    return MemoryResult(count, idle_kib, loaded_kib, still_open)


def open_idle_connections(port: int, count: int) -> tuple[list[socket.socket], str]:
    """The connections opened (each has had one correct answer), and why there are not more."""
    deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
    connections: list[socket.socket] = []
    try:
        while len(connections) < count:
            if time.monotonic() > deadline:
                return connections, f"timed out after {OPEN_TIMEOUT_SECONDS:g} s"
            sock = socket.create_connection((HOST, port), timeout=10)
            sock.sendall(REQUEST)
            reply = read_reply(sock.makefile("rb"))
            if reply.status != 200:
                raise WrongAnswer(f"status {reply.status}")
            sock.settimeout(None)
            connections.append(sock)
    except (OSError, WrongAnswer) as error:
        return connections, f"connection {len(connections) + 1}: {type(error).__name__}: {error}"
    return connections, ""


def is_open(sock: socket.socket) -> bool:
    """No end-of-stream waiting (the socket is blocking: MSG_DONTWAIT alone decides)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def client(port: int, count: int) -> None:
    connections, error = open_idle_connections(port, count)
    print(json.dumps({"opened": len(connections), "error": error}), flush=True)
    sys.stdin.readline()
    print(json.dumps({"open": sum(map(is_open, connections))}), flush=True)


if __name__ == "__main__":
    raise_file_limit()
    client(int(sys.argv[1]), int(sys.argv[2]))
