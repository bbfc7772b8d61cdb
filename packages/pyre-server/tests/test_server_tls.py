"""TLS: certificates made by trustme, real clients (httpx, curl, asyncio's TLS client), real sockets.

The in-process servers run on asyncio's loop; the ``pyre serve`` subprocess runs on uvloop,
so the handshake timeout and a plain-HTTP client are checked on both.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from server_support import serve

from pyre.server import Config, Server, StartupError
from pyre.server._cli import parse
from pyre.spec import EXT_TLS, Request, Response

HERE = os.path.dirname(__file__)
CURL = "/usr/bin/curl"


async def describe(request: Request) -> Response:
    """The request's scheme, its pyre.tls data (certificate as hex) and the data's identity."""
    tls = request.extensions.get(EXT_TLS)
    session = None
    if tls is not None:
        assert isinstance(tls, Mapping)
        session = {key: value.hex() if isinstance(value, bytes) else value for key, value in tls.items()}
    body = {
        "scheme": request.scheme,
        "tls": session,
        "tls_id": id(tls),
        "listed": request.server_info.supports(EXT_TLS),
    }
    return Response(200, [(b"content-type", b"application/json")], json.dumps(body).encode())


@dataclass
class Files:
    ca: trustme.CA
    certfile: str
    keyfile: str
    encrypted_keyfile: str
    cafile: str
    client_ca: trustme.CA
    client_cafile: str
    client: trustme.LeafCert


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = str(where / "cert.pem"), str(where / "key.pem"), str(where / "ca.pem")
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    ca.cert_pem.write_to_path(cafile)
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (where / "encrypted.pem").write_bytes(encrypted)
    client_ca = trustme.CA()
    client_ca.cert_pem.write_to_path(str(where / "client-ca.pem"))
    return Files(
        ca=ca,
        certfile=certfile,
        keyfile=keyfile,
        encrypted_keyfile=str(where / "encrypted.pem"),
        cafile=cafile,
        client_ca=client_ca,
        client_cafile=str(where / "client-ca.pem"),
        client=client_ca.issue_cert("client@example.org"),
    )


def client_context(files: Files, *, with_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context()
    files.ca.configure_trust(context)
    if with_certificate:
        files.client.configure_cert(context)
    return context


def tls_options(files: Files, **more: object) -> dict[str, object]:
    return {"ssl_certfile": files.certfile, "ssl_keyfile": files.keyfile, **more}


async def test_httpx_over_tls_sees_https_and_the_session(files: Files) -> None:
    async with (
        serve(describe, **tls_options(files)) as server,
        httpx.AsyncClient(verify=client_context(files)) as client,
    ):
        first = (await client.get(f"https://127.0.0.1:{server.port}/")).json()
        second = (await client.get(f"https://127.0.0.1:{server.port}/")).json()
    assert first["scheme"] == "https"
    assert first["listed"] is True
    session = first["tls"]
    assert set(session) == {"version", "cipher", "alpn_protocol", "server_name", "peer_certificate"}
    assert session["version"] in ("TLSv1.2", "TLSv1.3")
    assert isinstance(session["cipher"], str)
    assert session["cipher"]
    assert session["alpn_protocol"] == "http/1.1"
    assert session["server_name"] is None  # no SNI for an IP address
    assert session["peer_certificate"] is None
    # One connection, so one mapping: computed once per connection, not per request.
    assert second["tls_id"] == first["tls_id"]


async def test_sni_and_alpn_as_the_client_sent_them(files: Files) -> None:
    context = client_context(files)
    context.set_alpn_protocols(["h2", "http/1.1"])
    async with serve(describe, http="1", **tls_options(files)) as server:  # HTTP/1.1 only: no h2
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname="localhost"
        )
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        writer.write(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    session = json.loads(response.partition(b"\r\n\r\n")[2])["tls"]
    assert session["server_name"] == "localhost"
    assert session["alpn_protocol"] == "http/1.1"


async def test_a_plain_server_neither_lists_nor_fills_the_extension() -> None:
    async with serve(describe) as server, httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{server.port}/")).json()
    assert (body["scheme"], body["tls"], body["listed"]) == ("http", None, False)


async def test_a_required_client_certificate_is_in_the_extension(files: Files) -> None:
    options = tls_options(files, ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_ca_certs=files.client_cafile)
    async with serve(describe, **options) as server:
        context = client_context(files, with_certificate=True)
        async with httpx.AsyncClient(verify=context) as client:
            body = (await client.get(f"https://127.0.0.1:{server.port}/")).json()
    expected = ssl.PEM_cert_to_DER_cert(files.client.cert_chain_pems[0].bytes().decode())
    assert bytes.fromhex(body["tls"]["peer_certificate"]) == expected


async def test_a_missing_required_client_certificate_is_refused_and_the_server_serves_on(
    files: Files,
) -> None:
    calls = 0

    async def counting(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return await describe(request)

    options = tls_options(files, ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_ca_certs=files.client_cafile)
    async with serve(counting, **options) as server:
        url = f"https://127.0.0.1:{server.port}/"
        # With TLS 1.3 the client learns of the refusal on its first read, not in its handshake.
        async with httpx.AsyncClient(verify=client_context(files)) as client:
            with pytest.raises(httpx.TransportError):
                await client.get(url)
        assert calls == 0
        async with httpx.AsyncClient(verify=client_context(files, with_certificate=True)) as client:
            assert (await client.get(url)).status_code == 200
        assert calls == 1


async def test_an_optional_client_certificate_may_be_left_out(files: Files) -> None:
    options = tls_options(files, ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=files.client_cafile)
    async with (
        serve(describe, **options) as server,
        httpx.AsyncClient(verify=client_context(files)) as client,
    ):
        body = (await client.get(f"https://127.0.0.1:{server.port}/")).json()
    assert body["tls"]["peer_certificate"] is None


async def read_until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sends before it closes the connection (a reset counts as closed)."""
    received = b""
    async with asyncio.timeout(seconds):
        try:
            while chunk := await reader.read(4096):
                received += chunk
        except ConnectionResetError:
            pass
    return received


async def test_plain_http_to_the_tls_port_is_closed_and_the_server_serves_on(files: Files) -> None:
    async with serve(describe, **tls_options(files)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        received = await read_until_closed(reader, 5)
        writer.close()
        assert not received.startswith(b"HTTP/")
        async with httpx.AsyncClient(verify=client_context(files)) as client:
            assert (await client.get(f"https://127.0.0.1:{server.port}/")).status_code == 200


def client_hello() -> bytes:
    """The first flight of a real TLS client."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
async def test_a_stalled_handshake_is_closed_after_the_header_timeout(files: Files, sent: str) -> None:
    hello = client_hello()
    async with serve(describe, **tls_options(files, timeout_header=0.5)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if sent != "nothing":
            writer.write(hello[: len(hello) // 2])
        # Closed well before asyncio's own default of 60 s.
        assert await read_until_closed(reader, 10) == b""
        writer.close()


async def test_an_idle_client_that_ignores_close_notify_does_not_hold_up_the_drain(files: Files) -> None:
    """A pooled connection is not read while idle, so its client never answers the server's
    close_notify: the server must not wait asyncio's 30 s for it (nor the whole drain)."""
    server = Server(describe, Config(port=0, access_log=False, timeout_drain=20.0, **tls_options(files)))
    await server.start()

    def idle_client() -> ssl.SSLSocket:
        sock = client_context(files).wrap_socket(
            socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost"
        )
        sock.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
        return sock  # and read no more

    idle = await asyncio.to_thread(idle_client)
    try:
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 10  # the drain timeout is 20 s; LINGER_TIMEOUT is 2 s
    finally:
        idle.close()


async def test_an_encrypted_key_needs_its_password(files: Files) -> None:
    options = {"ssl_certfile": files.certfile, "ssl_keyfile": files.encrypted_keyfile}
    for password in ("wrong", None):
        with pytest.raises(StartupError) as caught:
            async with serve(describe, **options, ssl_keyfile_password=password):
                pass
        assert str(caught.value) == (
            "cannot decrypt the TLS private key: wrong or missing ssl_keyfile_password"
        )
    async with (
        serve(describe, **options, ssl_keyfile_password="secret") as server,
        httpx.AsyncClient(verify=client_context(files)) as client,
    ):
        assert (await client.get(f"https://127.0.0.1:{server.port}/")).json()["scheme"] == "https"


async def test_unreadable_tls_files_are_one_line_startup_errors(files: Files, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    cases = [
        ({"ssl_certfile": missing}, f"TLS certificate file not found: {missing}"),
        ({"ssl_certfile": files.certfile, "ssl_keyfile": missing}, f"TLS key file not found: {missing}"),
        ({"ssl_certfile": str(not_pem)}, "cannot load the TLS certificate and key"),
        ({"ssl_certfile": files.certfile, "ssl_keyfile": files.client_cafile}, "cannot load"),
        (tls_options(files, ssl_ca_certs=missing), f"TLS CA certificates file not found: {missing}"),
        (tls_options(files, ssl_ciphers="NO-SUCH-CIPHER"), "no cipher matches"),
    ]
    for options, message in cases:
        with pytest.raises(StartupError) as caught:
            async with serve(describe, **options):
                pass
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)


def test_tls_settings_are_validated() -> None:
    for options, message in [
        ({"ssl_keyfile": "k.pem"}, "ssl_keyfile needs ssl_certfile"),
        ({"ssl_ca_certs": "ca.pem"}, "ssl_ca_certs needs ssl_certfile"),
        ({"ssl_certfile": "c.pem", "ssl_version": 3}, "ssl_version 3 is not one of [2, 5, 17]"),
        ({"ssl_certfile": "c.pem", "ssl_cert_reqs": 3}, "ssl_cert_reqs 3 is not 0, 1 or 2"),
        ({"ssl_certfile": "c.pem", "ssl_cert_reqs": 2}, "needs ssl_ca_certs"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            Config(**options)  # type: ignore[arg-type]


async def test_ssl_version_5_keeps_to_tls_1_2(files: Files) -> None:
    async with (
        serve(describe, **tls_options(files, ssl_version=5)) as server,
        httpx.AsyncClient(verify=client_context(files)) as client,
    ):
        body = (await client.get(f"https://127.0.0.1:{server.port}/")).json()
    assert body["tls"]["version"] == "TLSv1.2"


def test_tls_flags_and_variables() -> None:
    _, config = parse(
        [
            "m:app",
            "--ssl-certfile=c.pem",
            "--ssl-keyfile=k.pem",
            "--ssl-keyfile-password=pw",
            "--ssl-version=2",
            "--ssl-cert-reqs=1",
            "--ssl-ca-certs=ca.pem",
            "--ssl-ciphers=ECDHE+AESGCM",
        ],
        {},
    )
    assert (config.ssl_certfile, config.ssl_keyfile, config.ssl_keyfile_password) == ("c.pem", "k.pem", "pw")
    assert (config.ssl_version, config.ssl_cert_reqs, config.ssl_ca_certs) == (2, 1, "ca.pem")
    assert config.ssl_ciphers == "ECDHE+AESGCM"
    environ = {
        "PYRE_SSL_CERTFILE": "c.pem",
        "PYRE_SSL_KEYFILE": "k.pem",
        "PYRE_SSL_KEYFILE_PASSWORD": "pw",
        "PYRE_SSL_VERSION": "5",
        "PYRE_SSL_CERT_REQS": "2",
        "PYRE_SSL_CA_CERTS": "ca.pem",
        "PYRE_SSL_CIPHERS": "HIGH",
    }
    _, from_environment = parse(["m:app"], environ)
    assert (from_environment.ssl_version, from_environment.ssl_cert_reqs) == (5, 2)
    assert from_environment.ssl_ciphers == "HIGH"
    assert Config().ssl_certfile is None
    assert Config().ssl_cert_reqs == ssl.CERT_NONE


# The command line, on uvloop.


@pytest.fixture
def tls_process(files: Files) -> Iterator[int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyre.server",
            "test_server_tls:describe",
            "--port=0",
            "--no-access-log",
            "--timeout-header=0.5",
            f"--ssl-certfile={files.certfile}",
            f"--ssl-keyfile={files.keyfile}",
        ],
        cwd=HERE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        deadline = time.monotonic() + 20
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, "the server exited before listening"
            match = re.search(r"Listening on https://127\.0\.0\.1:(\d+)", line)
            port = int(match.group(1)) if match else None
        assert port is not None, "the server did not start listening"
        yield port
        assert process.poll() is None, "the server exited"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


@pytest.mark.skipif(not os.path.exists(CURL), reason="curl is not installed at /usr/bin/curl")
def test_curl_over_tls_negotiates_http_1_1(files: Files, tls_process: int) -> None:
    result = subprocess.run(
        [CURL, "-sv", "--http1.1", "--cacert", files.cafile, f"https://localhost:{tls_process}/"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["scheme"] == "https"
    assert body["tls"]["server_name"] == "localhost"
    assert body["tls"]["alpn_protocol"] == "http/1.1"
    assert re.search(r"ALPN[:,] server accepted( to use)? http/1.1", result.stderr), result.stderr


def test_uvloop_closes_stalled_handshakes_and_plain_http(files: Files, tls_process: int) -> None:
    hello = client_hello()
    for first in (b"", hello[: len(hello) // 2], b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", tls_process), timeout=10) as sock:
            sock.sendall(first)
            try:
                received = sock.recv(4096)
            except ConnectionResetError:
                received = b""
            assert not received.startswith(b"HTTP/")
            if received:  # a TLS alert: the connection is closed after it
                assert sock.recv(4096) == b""
    with (
        socket.create_connection(("127.0.0.1", tls_process), timeout=10) as sock,
        client_context(files).wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")


def test_the_command_line_reports_a_missing_certificate_in_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyre.server",
            "test_server_tls:describe",
            "--port=0",
            f"--ssl-certfile={missing}",
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"pyre: error: TLS certificate file not found: {missing}"
