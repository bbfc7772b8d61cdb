"""pyre-asgi: ASGI applications on pyre-spec servers, and pyre-spec applications on ASGI servers.

- ``from_asgi(asgi_app)``: a pyre-spec application (with ``lifespan``) running an ASGI 3 or 2 app.
- ``to_asgi(pyre_app)``: an ASGI 3 application running a pyre-spec app.
- ``is_asgi_app(obj)``: whether ``obj`` is an ASGI application rather than a pyre-spec one.

Errors::

    ASGIError
    ├── ASGIProtocolError         the ASGI app broke the ASGI message protocol
    ├── LifespanFailure           lifespan startup/shutdown failed, with the app's message
    └── ASGIClientDisconnected    send() after the client left (also OSError, pyre.spec.ClientDisconnected)
"""

from .__about__ import __version__ as __version__
from ._detect import is_asgi_app as is_asgi_app
from ._errors import ASGIClientDisconnected as ASGIClientDisconnected
from ._errors import ASGIError as ASGIError
from ._errors import ASGIProtocolError as ASGIProtocolError
from ._errors import LifespanFailure as LifespanFailure
from ._from_asgi import from_asgi as from_asgi
from ._to_asgi import to_asgi as to_asgi

__all__ = [
    "ASGIClientDisconnected",
    "ASGIError",
    "ASGIProtocolError",
    "LifespanFailure",
    "__version__",
    "from_asgi",
    "is_asgi_app",
    "to_asgi",
]
