"""A real nginx on loopback in front of pyre-server, with examples/deploy/nginx.conf.

nginx runs as this test's own process (``daemon off``, every path in a temporary
directory, one worker).  Clients connect from 127.0.0.5, a loopback address of
their own, so that the client is not itself a trusted proxy (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from server_support import serve

from pyre.spec import Request, Response

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (.ci/run installs it with apt-get)"
)

SITE = Path(__file__).parents[3] / "examples" / "deploy" / "nginx.conf"
CLIENT_ADDRESS = "127.0.0.5"
TIMEOUT = 10.0
STREAM_WAIT = 3.0  # how long the app waits for the client to see its first chunk
# Started by root, nginx's workers would run as nobody, who may not use the test's
# temporary directory and Unix socket; started by anyone else, they run as that user.
USER = "user root;" if os.geteuid() == 0 else ""

MAIN = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site(upstream: str, port: int, https_port: int) -> str:
    """The example site file, listening on ``port``, proxying to ``upstream``; and the same
    server block on ``https_port`` saying the client came over https (a TLS-terminating nginx)."""
    text = SITE.read_text()
    assert "server 127.0.0.1:8000;" in text
    assert "listen 80;" in text
    text = text.replace("server 127.0.0.1:8000;", f"server {upstream};")
    server_block = re.search(r"^server \{.*?^\}", text, re.M | re.S)
    assert server_block is not None
    https_block = server_block[0].replace("listen 80;", f"listen 127.0.0.1:{https_port};")
    https_block = https_block.replace("X-Forwarded-Proto $scheme", "X-Forwarded-Proto https")
    return text.replace("listen 80;", f"listen 127.0.0.1:{port};") + "\n" + https_block + "\n"


@contextmanager
def nginx(upstream: str) -> Iterator[tuple[int, int]]:
    """A running nginx in front of ``upstream``: its plain and its "https" port."""
    assert NGINX is not None
    port, https_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "site.conf").write_text(site(upstream, port, https_port))
        Path(directory, "nginx.conf").write_text(MAIN.format(dir=directory, user=USER))
        process = subprocess.Popen(
            [
                NGINX,
                "-p",
                directory,
                "-c",
                f"{directory}/nginx.conf",
                "-e",
                f"{directory}/error.log",
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_listening(process, port, directory)
            wait_listening(process, https_port, directory)
            yield port, https_port
        finally:
            process.terminate()
            try:
                process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_listening(process: subprocess.Popen[bytes], port: int, directory: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = Path(directory, "error.log")
            pytest.fail(f"nginx exited: {log.read_text() if log.exists() else process.stderr}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not start listening")


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS), timeout=TIMEOUT
    )


async def report(request: Request) -> Response:
    client = request.client
    assert client is not None
    text = f"{client[0]} {request.scheme} {request.authority}"
    return Response(200, [(b"content-type", b"text/plain")], text.encode())


@asynccontextmanager
async def pyre_behind_nginx(app: object = report, **options: object) -> AsyncIterator[tuple[int, int]]:
    async with serve(app, **options) as server:  # type: ignore[arg-type]
        with nginx(f"127.0.0.1:{server.port}") as ports:
            yield ports


async def test_the_app_sees_the_client_through_nginx() -> None:
    async with pyre_behind_nginx() as (port, https_port), client() as http:
        plain = await http.get(f"http://127.0.0.1:{port}/")
        https = await http.get(f"http://127.0.0.1:{https_port}/")
    assert plain.text == f"{CLIENT_ADDRESS} http 127.0.0.1:{port}"
    assert https.text == f"{CLIENT_ADDRESS} https 127.0.0.1:{https_port}"


async def test_a_clients_forged_headers_do_not_pass_nginx() -> None:
    forged = {"x-forwarded-for": "6.6.6.6", "x-forwarded-host": "evil.example", "forwarded": "for=6.6.6.6"}
    async with pyre_behind_nginx() as (port, _), client() as http:
        response = await http.get(f"http://127.0.0.1:{port}/", headers=forged)
    # nginx appended the real address to the forged list; pyre-server walked it from the right.
    assert response.text == f"{CLIENT_ADDRESS} http 127.0.0.1:{port}"


async def test_an_untrusted_proxy_is_not_believed() -> None:
    async with pyre_behind_nginx(forwarded_allow_ips="10.0.0.1") as (_, https_port), client() as http:
        response = await http.get(f"http://127.0.0.1:{https_port}/")
    # nginx's own address, plain http, and Host as nginx sets it ($host: no port).
    assert response.text == "127.0.0.1 http 127.0.0.1"


async def test_over_a_unix_socket() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/pyre.sock"
        async with serve(report, uds=path, forwarded_allow_ips="10.0.0.1") as _:
            with nginx(f"unix:{path}") as (port, https_port):
                async with client() as http:
                    plain = await http.get(f"http://127.0.0.1:{port}/")
                    https = await http.get(f"http://127.0.0.1:{https_port}/")
    assert plain.text == f"{CLIENT_ADDRESS} http 127.0.0.1:{port}"
    assert https.text == f"{CLIENT_ADDRESS} https 127.0.0.1:{https_port}"


async def test_upstream_connections_are_reused() -> None:
    upstream_ports: set[int] = set()

    async def peer(request: Request) -> Response:
        assert request.client is not None
        upstream_ports.add(request.client[1])  # proxy headers off: nginx's end of the connection
        return Response(200, [], b"ok")

    async with pyre_behind_nginx(peer, proxy_headers=False) as (port, _):
        for _ in range(30):
            async with client() as http:  # a new client connection each time
                assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
    assert 1 <= len(upstream_ports) <= 2, upstream_ports


async def test_a_streamed_response_passes_unbuffered() -> None:
    first_received = asyncio.Event()
    seen_before_second: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        try:
            await asyncio.wait_for(first_received.wait(), STREAM_WAIT)
        except TimeoutError:
            pass
        seen_before_second.append(first_received.is_set())
        yield b"second\n"

    async def stream(request: Request) -> Response:
        return Response(200, [(b"content-type", b"text/plain"), (b"x-accel-buffering", b"no")], chunks())

    received = b""
    async with (
        pyre_behind_nginx(stream) as (port, _),
        client() as http,
        http.stream("GET", f"http://127.0.0.1:{port}/") as response,
    ):
        async for data in response.aiter_raw():
            received += data
            if received.startswith(b"first\n"):
                first_received.set()
    assert received == b"first\nsecond\n"
    assert seen_before_second == [True]
