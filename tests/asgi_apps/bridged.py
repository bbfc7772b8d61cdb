"""The differential apps after a round trip through both bridges: ``to_asgi(from_asgi(app))``.

Served by uvicorn, each must answer exactly as the original app does.
"""

from __future__ import annotations

from pyre.asgi import from_asgi, to_asgi

from . import fastapi_app, raw, starlette_app

raw_app = to_asgi(from_asgi(raw.app))
starlette = to_asgi(from_asgi(starlette_app.app))
fastapi = to_asgi(from_asgi(fastapi_app.app))
