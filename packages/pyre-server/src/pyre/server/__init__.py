"""pyre-server: a fast, strict HTTP/1.1 and HTTP/2 server for pyre-spec applications.

::

    import pyre.server

    pyre.server.run(app, port=8000)

Errors raised to the code that runs the server::

    ServerError
    ├── AppLoadError     MODULE:ATTR could not be imported or is not an application
    └── StartupError     the server could not start: address unusable, lifespan startup failed
"""

from .__about__ import __version__ as __version__
from ._config import Config as Config
from ._errors import AppLoadError as AppLoadError
from ._errors import ServerError as ServerError
from ._errors import StartupError as StartupError
from ._server import Server as Server
from ._server import run as run

__all__ = ["AppLoadError", "Config", "Server", "ServerError", "StartupError", "__version__", "run"]
