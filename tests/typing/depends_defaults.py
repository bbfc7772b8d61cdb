"""Checked by ``mypy --strict`` in the typecheck session, not run: what users write type-checks.

``Depends(provider)`` as the default of a parameter annotated with the provider's
value type is the documented spelling; it must not be an "incompatible default".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from pyre.framework import BackgroundTasks, Depends, Request


class Store:
    pass


def current_user(request: Request) -> str:
    return request.headers.get("x-user") or "anonymous"


async def transaction(request: Request) -> AsyncIterator[Store]:
    yield Store()


async def create(
    tasks: BackgroundTasks,
    store: Store = Depends(transaction),
    user: str = Depends(current_user, use_cache=False),
) -> str:
    return f"{user} {store}"


async def read(user: Annotated[str, Depends(current_user)]) -> str:
    return user
