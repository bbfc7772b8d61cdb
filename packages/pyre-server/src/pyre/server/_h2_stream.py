"""One HTTP/2 stream as the request on it sees its connection: the ``Channel`` of ``_channel``.

A request on HTTP/2 is the same ``HttpRequest`` with the same ``HttpBody`` as on
HTTP/1.1; only its channel differs.  ``H2Stream`` is that channel: the stream is
``closed`` once the client resets it (RST_STREAM) or the connection is gone, and
what the app reads of the body opens the flow-control windows again
(``consumed``), so a client sends no faster than the app reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyre.spec import ClientDisconnected, RawHeaders

from ._request import HttpBody, HttpRequest

if TYPE_CHECKING:
    from ._http2 import Http2Connection
    from ._shared import Shared
    from ._task import RequestTask


class H2Stream:
    """The request, its app's task and its flow-control state on one stream."""

    __slots__ = (
        "connection",
        "stream_id",
        "request",
        "task",
        "closed",
        "ended",
        "done",
        "acked",
        "window_waiter",
        "close_waiters",
    )

    def __init__(self, connection: Http2Connection, stream_id: int) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.request: HttpRequest | None = None
        self.task: RequestTask | None = None
        self.closed = False  # reset by the client, or the connection is gone
        self.ended = False  # the client's side of the stream has ended (END_STREAM)
        self.done = False  # the response is complete, or the stream was reset
        self.acked = 0  # body bytes given back to the client's window
        self.window_waiter: asyncio.Future[None] | None = None
        self.close_waiters: list[asyncio.Future[None]] | None = None

    def reset(self) -> None:
        """The stream is gone (RST_STREAM, or the connection): as a disconnect on HTTP/1.1."""
        if self.closed:
            return
        self.closed = True
        request = self.request
        if request is not None and isinstance(request.body, HttpBody):
            request.body.fail(ClientDisconnected())
        self.wake_writer()
        for waiter in self.close_waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        self.close_waiters = None

    def wake_writer(self) -> None:
        waiter, self.window_waiter = self.window_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def app_returned(self, task: RequestTask, response: Any, error: BaseException | None) -> None:
        self.connection.app_returned(self, response, error)

    def streamed(self, task: RequestTask, result: Any, error: BaseException | None) -> None:
        self.connection.streamed(self, error)

    # The Channel of HttpRequest and HttpBody (_channel)

    @property
    def shared(self) -> Shared:
        return self.connection.shared

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.connection.loop

    @property
    def client(self) -> tuple[str, int] | None:
        return self.connection.client

    @property
    def local(self) -> tuple[str, int] | None:
        return self.connection.local

    @property
    def tls_extensions(self) -> Mapping[str, object] | None:
        return self.connection.tls_extensions

    def consumed(self) -> None:
        self.connection.acknowledge(self)

    def continue_body(self, body: HttpBody) -> None:
        request = self.request
        if request is not None and request.expects_continue and not request.response_started:
            request.expects_continue = False
            self.connection.send_continue(self)

    def waiting_for_body(self, waiting: bool) -> None:
        self.connection.waiting_for_body(self, waiting)

    async def wait_closed(self) -> None:
        if self.closed:
            return
        waiter = self.connection.loop.create_future()
        if self.close_waiters is None:
            self.close_waiters = []
        self.close_waiters.append(waiter)
        await waiter

    async def send_interim(self, request: HttpRequest, status: int, headers: RawHeaders) -> None:
        if self.closed:
            raise ClientDisconnected
        self.connection.send_interim(self, status, headers)
        await self.connection.drain(self)

    def send(self, data: bytes) -> None:
        raise RuntimeError("an HTTP/2 stream is not upgraded")

    async def drain(self) -> None:
        await self.connection.drain(self)

    def end_upgrade(self) -> None:
        raise RuntimeError("an HTTP/2 stream is not upgraded")
