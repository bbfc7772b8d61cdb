"""The smallest pyre-spec application: ``python -m pyre.server examples.hello:app``."""

from pyre.spec import Request, Response

HEADERS = [(b"content-type", b"text/plain")]


async def app(request: Request) -> Response:
    return Response(200, HEADERS, b"Hello, world!")
