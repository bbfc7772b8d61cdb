"""WebSocket through from_asgi on a real pyre-server process, with a raw-socket RFC 6455 client.

Runs once pyre-server implements protocol upgrades (``pyre.upgrade``); until
then it skips, and ``packages/pyre-asgi/tests/test_websocket.py`` covers the
bridge against an in-memory ByteStream.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
from collections.abc import Iterator

import pytest
from asgi_apps.servers import Running, serve

from pyre.spec import EXT_UPGRADE

KEY = base64.b64encode(os.urandom(16))
ACCEPT = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


@pytest.fixture(scope="module")
def pyre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    logs = tmp_path_factory.mktemp("logs")
    with serve("pyre", "asgi_apps.pyre_app:app", logs) as probe:
        extensions = json.loads(probe.request("GET", "/server-info").body)["extensions"]
    if EXT_UPGRADE not in extensions:
        pytest.skip("pyre-server does not implement pyre.upgrade (protocol upgrades) yet")
    with serve("pyre", "asgi_apps.websocket_app:app", logs) as running:
        yield running


class Client:
    """A blocking RFC 6455 client on a raw socket."""

    def __init__(self, port: int, target: str, protocols: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        extra = f"Sec-WebSocket-Protocol: {protocols}\r\n" if protocols else ""
        self.sock.sendall(
            (
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY.decode()}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])
        self.headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:] if line)
        }

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        found, _, self.buffer = self.buffer.partition(marker)
        return found

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buffer += data

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def frame(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(length)

    def close(self) -> None:
        self.sock.close()


def test_echo_text_binary_ping_and_close(pyre: Running) -> None:
    client = Client(pyre.port, "/ws", "chat, echo")
    try:
        assert client.status == 101
        assert client.headers["sec-websocket-accept"] == ACCEPT.decode()
        assert client.headers["sec-websocket-protocol"] == "echo"
        client.send(0x1, "héllo".encode())
        assert client.frame() == (0x1, "HÉLLO".encode())
        payload = os.urandom(100_000)
        client.send(0x2, payload)
        assert client.frame() == (0x2, payload[::-1])
        client.send(0x9, b"ping")
        client.send(0x1, b"after ping")
        assert client.frame() == (0xA, b"ping")
        assert client.frame() == (0x1, b"AFTER PING")
        client.send(0x8, struct.pack("!H", 1000))
        assert client.frame() == (0x8, struct.pack("!H", 1000))
    finally:
        client.close()


def test_server_side_close_with_code(pyre: Running) -> None:
    client = Client(pyre.port, "/goodbye?name=pyre")
    try:
        assert client.status == 101
        assert client.frame() == (0x1, b"bye pyre")
        assert client.frame() == (0x8, struct.pack("!H", 4001) + b"done")
        client.send(0x8, struct.pack("!H", 4001))
    finally:
        client.close()


def test_close_before_accept_is_403(pyre: Running) -> None:
    client = Client(pyre.port, "/refuse")
    try:
        assert client.status == 403
    finally:
        client.close()
