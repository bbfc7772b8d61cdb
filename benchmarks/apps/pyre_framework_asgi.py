"""The pyre-framework app as ASGI, through pyre-asgi's ``to_asgi``, for uvicorn."""

from pyre.asgi import to_asgi

from .pyre_framework_app import app as pyre_app

app = to_asgi(pyre_app)
