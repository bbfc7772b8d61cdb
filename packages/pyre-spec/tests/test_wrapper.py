"""RequestWrapper: every member of the Request Protocol is the wrapped request's, until overridden."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

from pyre.spec import Headers, Request, RequestWrapper

ATTRIBUTES = [
    name
    for name, member in vars(Request).items()
    if not name.startswith("_") and isinstance(member, property)
]
METHODS = ["wait_disconnected", "send_interim"]


def wrapped() -> Any:
    calls: list[tuple[Any, ...]] = []

    async def wait_disconnected() -> None:
        calls.append(("wait_disconnected",))

    async def send_interim(status: int, headers: Any = ()) -> None:
        calls.append(("send_interim", status, headers))

    values = {name: object() for name in ATTRIBUTES}
    return SimpleNamespace(
        **values, calls=calls, wait_disconnected=wait_disconnected, send_interim=send_interim
    )


def test_the_protocol_is_what_is_delegated() -> None:
    assert set(ATTRIBUTES) >= {"method", "raw_path", "path", "root_path", "headers", "body", "disconnected"}
    members = {name for name, _ in inspect.getmembers(RequestWrapper) if not name.startswith("_")}
    assert members == {*ATTRIBUTES, *METHODS, "wrapped"}


def test_every_attribute_is_the_wrapped_requests() -> None:
    inner = wrapped()
    wrapper = RequestWrapper(inner)
    assert wrapper.wrapped is inner
    for name in ATTRIBUTES:
        assert getattr(wrapper, name) is getattr(inner, name), name


async def test_methods_reach_the_wrapped_request() -> None:
    inner = wrapped()
    wrapper = RequestWrapper(inner)
    await wrapper.wait_disconnected()
    await wrapper.send_interim(103, [(b"link", b"</a>")])
    assert inner.calls == [("wait_disconnected",), ("send_interim", 103, [(b"link", b"</a>")])]


def test_a_subclass_overrides_only_what_it_changes() -> None:
    class Renamed(RequestWrapper):
        __slots__ = ("path",)

        def __init__(self, request: Any) -> None:
            super().__init__(request)
            self.path = "/elsewhere"  # type: ignore[misc]

    inner = wrapped()
    inner.headers = Headers([(b"a", b"1")])
    renamed = Renamed(inner)
    assert renamed.path == "/elsewhere"
    assert renamed.headers is inner.headers
    assert renamed.raw_path is inner.raw_path
