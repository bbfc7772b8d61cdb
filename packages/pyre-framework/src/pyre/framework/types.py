"""Type aliases for the callables an application registers, and how their results are awaited."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .requests import Request

Handler: TypeAlias = Callable[..., Any]
"""An endpoint: sync or async, parameters injected by annotation, any return value ``to_response`` takes."""

BeforeHook: TypeAlias = "Callable[[Request], Any]"
"""Runs before the handler; returning anything but ``None`` answers the request with it."""

AfterHook: TypeAlias = "Callable[[Request, Any], Any]"
"""Runs on the response; returning anything but ``None`` replaces it."""

ExceptionHandler: TypeAlias = "Callable[[Request, Any], Any]"
"""Turns an exception into a response (or any value ``to_response`` takes)."""

LifespanHook: TypeAlias = Callable[[], Any]
"""A startup or shutdown function, sync or async, called with no arguments."""

ExceptionKey: TypeAlias = "type[BaseException] | int"
"""An exception class, or an ``HTTPException`` status code."""


async def maybe_await(value: Any) -> Any:
    """``value``, awaited if it is awaitable: what a sync or async hook or handler returned."""
    return await value if inspect.isawaitable(value) else value
