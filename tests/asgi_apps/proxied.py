"""A Starlette app that reports what it was told of its client: for the proxy-header tests."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def whoami(request: Request) -> Response:
    client = request.client
    return JSONResponse(
        {
            "client": [client.host, client.port] if client else None,
            "scheme": request.url.scheme,
            "url": str(request.url),
            "url_for": str(request.url_for("whoami")),
        }
    )


app = Starlette(routes=[Route("/whoami", whoami, name="whoami")])
