"""Server-sent events: ``ServerSentEvent`` and the ``text/event-stream`` response that carries them."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from .base import HeaderInput, Response, closing_iterator, dumps_json


@dataclasses.dataclass(slots=True)
class ServerSentEvent:
    """One server-sent event (HTML Living Standard, "Server-sent events").

    ``data`` that is not a ``str`` is sent as JSON.  ``comment`` lines are
    ignored by clients; they keep idle connections open.
    """

    data: Any = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {_single_line('event', self.event)}")
        if self.id is not None:
            if "\x00" in self.id:
                raise ValueError("a server-sent event id cannot contain NUL")
            lines.append(f"id: {_single_line('id', self.id)}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        if self.data is not None:
            data = self.data if isinstance(self.data, str) else dumps_json(self.data).decode()
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
        lines.append("\n")
        return "\n".join(lines).encode()


# The event stream format ends lines with CRLF, LF or CR; nothing else (unlike str.splitlines).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PING = b": ping\n\n"


def _single_line(field: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"a server-sent event {field} cannot contain a line break")
    return value


class EventSourceResponse(Response):
    """A ``text/event-stream`` of ``ServerSentEvent`` (or ``str``, sent as data) items.

    With ``ping`` set, a comment is sent after that many idle seconds so that
    proxies do not close a quiet stream.
    """

    __slots__ = ()

    def __init__(
        self,
        content: AsyncIterable[ServerSentEvent | str],
        status: int = 200,
        headers: HeaderInput = None,
        ping: float | None = None,
    ) -> None:
        super().__init__(b"", status, headers, "text/event-stream")
        self.headers += [(b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]
        self.body = _event_stream(content, ping)


def _encode_event(item: ServerSentEvent | str) -> bytes:
    if isinstance(item, str):
        item = ServerSentEvent(data=item)
    elif not isinstance(item, ServerSentEvent):
        raise TypeError(f"an event stream yields ServerSentEvent or str, not {type(item).__name__}")
    return item.encode()


async def _event_stream(
    content: AsyncIterable[ServerSentEvent | str], ping: float | None
) -> AsyncIterator[bytes]:
    async with closing_iterator(content) as iterator:
        if ping is None:
            async for item in iterator:
                yield _encode_event(item)
            return
        pending: asyncio.Future[ServerSentEvent | str] | None = None
        try:
            while True:
                # Waiting on the same __anext__ across pings, never cancelling it, keeps the
                # producer intact while it is quiet.
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({pending}, timeout=ping)
                if not done:
                    yield _PING
                    continue
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    return
                yield _encode_event(item)
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.wait({pending})
