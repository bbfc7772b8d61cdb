"""Response classes, cookies, and the coercion of handler return values.

Every class here is a ``pyre.spec.Response``.  By concept:

- ``base``: ``Response`` and the responses whose content is at hand (text,
  HTML, JSON, redirects, streams), header encoding and cookies;
- ``files``: ``FileResponse``, with validators, conditional requests and ranges;
- ``sse``: server-sent events;
- ``coercion``: ``to_response``, what a handler's return value becomes.

Every public name is importable from ``pyre.framework.responses`` itself.
"""

from .base import HeaderInput as HeaderInput
from .base import HTMLResponse as HTMLResponse
from .base import JSONResponse as JSONResponse
from .base import RedirectResponse as RedirectResponse
from .base import RequestAwareResponse as RequestAwareResponse
from .base import Response as Response
from .base import StreamingResponse as StreamingResponse
from .base import TextResponse as TextResponse
from .base import add_vary as add_vary
from .base import dumps_json as dumps_json
from .base import encode_headers as encode_headers
from .coercion import to_response as to_response
from .files import FileResponse as FileResponse
from .sse import EventSourceResponse as EventSourceResponse
from .sse import ServerSentEvent as ServerSentEvent

__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "HeaderInput",
    "JSONResponse",
    "RedirectResponse",
    "RequestAwareResponse",
    "Response",
    "ServerSentEvent",
    "StreamingResponse",
    "TextResponse",
    "add_vary",
    "dumps_json",
    "encode_headers",
    "to_response",
]
