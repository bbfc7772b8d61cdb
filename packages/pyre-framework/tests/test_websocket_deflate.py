"""permessage-deflate under a message limit: a compression bomb is refused before it is inflated.

Byte-level, as the codec is sans-IO: a wsproto client compresses, the framework's
``BoundedDeflate`` on a wsproto server connection inflates.
"""

from __future__ import annotations

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Message, TextMessage
from wsproto.extensions import PerMessageDeflate

from pyre.framework.websockets import BoundedDeflate

LIMIT = 1 << 20


class Limit:
    """What BoundedDeflate reads of its WebSocket."""

    max_message = LIMIT


def pair() -> tuple[Connection, Connection]:
    client_deflate, server_deflate = PerMessageDeflate(), BoundedDeflate(Limit())  # type: ignore[arg-type]
    # What the handshake would have agreed: both sides compress.
    client_deflate.finalize(client_deflate.offer())  # type: ignore[arg-type]
    server_deflate.accept(client_deflate.offer())  # type: ignore[arg-type]
    return (
        Connection(ConnectionType.CLIENT, extensions=[client_deflate]),
        Connection(ConnectionType.SERVER, extensions=[server_deflate]),
    )


def deliver(server: Connection, wire: bytes) -> tuple[int, int | None]:
    """Feed the server the wire bytes in 64 KiB reads: the largest inflated event, and a close code."""
    largest, code = 0, None
    for start in range(0, len(wire), 65536):
        server.receive_data(wire[start : start + 65536])
        for event in server.events():
            if isinstance(event, Message):
                largest = max(largest, len(event.data))
            elif isinstance(event, CloseConnection):
                return largest, event.code
    return largest, code


def test_a_bomb_is_closed_1009_without_inflating_past_the_limit() -> None:
    client, server = pair()
    wire = client.send(Message(data=b"\0" * (64 << 20)))  # 64 MiB of zeros: ~64 KiB compressed
    assert len(wire) < 128 * 1024
    largest, code = deliver(server, wire)
    assert code == 1009
    assert largest <= LIMIT + 1


def test_a_fragmented_bomb_counts_the_whole_message() -> None:
    client, server = pair()
    wire = b"".join(
        client.send(Message(data=b"\0" * (256 << 10), message_finished=False)) for _ in range(8)
    ) + client.send(Message(data=b"\0", message_finished=True))
    total, code = 0, None
    for start in range(0, len(wire), 4096):
        server.receive_data(wire[start : start + 4096])
        for event in server.events():
            if isinstance(event, Message):
                total += len(event.data)
            elif isinstance(event, CloseConnection):
                code = event.code
    assert code == 1009
    assert total <= LIMIT + 1


@pytest.mark.parametrize("size", [0, 1, 1000, LIMIT])
def test_messages_within_the_limit_arrive_whole_one_after_another(size: int) -> None:
    client, server = pair()
    text = "a" * size
    wire = client.send(TextMessage(data=text)) + client.send(TextMessage(data="next"))
    received: list[str] = []
    parts: list[str] = []
    server.receive_data(wire)
    for event in server.events():
        assert not isinstance(event, CloseConnection)
        assert isinstance(event, TextMessage)
        parts.append(event.data)
        if event.message_finished:
            received.append("".join(parts))
            parts = []
    assert received == [text, "next"]
