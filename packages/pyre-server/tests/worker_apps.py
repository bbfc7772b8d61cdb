"""The application the worker tests run in ``pyre serve --workers`` processes."""

from __future__ import annotations

import asyncio
import os
import time

from pyre.spec import Request, Response


async def app(request: Request) -> Response:
    """``/`` answers the worker's pid; ``/slow`` after a second; ``/block`` blocks the event loop;
    ``/inherited`` whether the supervisor's variable reached the app's environment."""
    if request.path == "/inherited":
        return Response(200, body=str(int("_PYRE_WORKER_FDS" in os.environ)).encode())
    if request.path == "/slow":
        await asyncio.sleep(1.0)
    elif request.path == "/block":
        time.sleep(30)  # noqa: ASYNC251 - a blocked event loop, which the healthcheck is for
    return Response(200, [(b"content-type", b"text/plain")], str(os.getpid()).encode())
