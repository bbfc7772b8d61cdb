"""A request that is another request but for what a subclass changes (spec section 3).

Middleware that rewrites part of a request (a mount's path and ``root_path``, a
validator's watched body) subclasses ``RequestWrapper`` and overrides only that
part; every other attribute and method is the wrapped request's, read when asked
for, so nothing of it is computed early or copied.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._headers import Headers, RawHeaders
from ._request import Address, Body, Request, State
from ._version import ServerInfo


class RequestWrapper:
    """A ``pyre.spec.Request`` delegating every attribute to ``wrapped``."""

    __slots__ = ("wrapped",)

    def __init__(self, wrapped: Request) -> None:
        self.wrapped = wrapped
        """The request this one stands for."""

    @property
    def method(self) -> str:
        return self.wrapped.method

    @property
    def target(self) -> bytes:
        return self.wrapped.target

    @property
    def raw_path(self) -> bytes:
        return self.wrapped.raw_path

    @property
    def path(self) -> str:
        return self.wrapped.path

    @property
    def query(self) -> bytes:
        return self.wrapped.query

    @property
    def root_path(self) -> str:
        return self.wrapped.root_path

    @property
    def http_version(self) -> str:
        return self.wrapped.http_version

    @property
    def scheme(self) -> str:
        return self.wrapped.scheme

    @property
    def authority(self) -> str | None:
        return self.wrapped.authority

    @property
    def headers(self) -> Headers:
        return self.wrapped.headers

    @property
    def trailers(self) -> Headers | None:
        return self.wrapped.trailers

    @property
    def body(self) -> Body:
        return self.wrapped.body

    @property
    def client(self) -> Address | None:
        return self.wrapped.client

    @property
    def server(self) -> Address | None:
        return self.wrapped.server

    @property
    def state(self) -> State:
        return self.wrapped.state

    @property
    def extensions(self) -> Mapping[str, object]:
        return self.wrapped.extensions

    @property
    def server_info(self) -> ServerInfo:
        return self.wrapped.server_info

    @property
    def disconnected(self) -> bool:
        return self.wrapped.disconnected

    async def wait_disconnected(self) -> None:
        await self.wrapped.wait_disconnected()

    async def send_interim(self, status: int, headers: RawHeaders = ()) -> None:
        await self.wrapped.send_interim(status, headers)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.wrapped!r}>"
