"""The BlackSheep app on pyre-server, through pyre-asgi's ``from_asgi``."""

from pyre.asgi import from_asgi

from .blacksheep_app import app as asgi_app

app = from_asgi(asgi_app)
