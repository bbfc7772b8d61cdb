"""The ASGI 3.0 callables and messages, as this package sees them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3.0 application: one call per connection scope."""

ASGI_VERSION = "3.0"
HTTP_SPEC_VERSION = "2.4"
"""The ASGI HTTP spec version both bridges speak: 2.4 made ``send()`` after a disconnect raise ``OSError``."""
