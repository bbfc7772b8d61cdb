"""The validator: checks both sides of the interface at run time (spec section 12.2).

``validate(app)`` returns an application that checks the request a server hands
in and the response the wrapped application returns, as ``wsgiref.validate``
and Rack::Lint do.  A broken requirement raises ``SpecViolation`` whose message
starts with the assertion ID of the spec, for example
``PYRE-RESP-4: header name b'X-A' is not lowercase``.

The checks cost a few attribute loads and one pass over the fields per
request; the application's own objects are passed through untouched whenever
nothing needs watching (a ``bytes`` or ``FileBody`` response without trailers).

Identity checks across requests (``state`` and ``server_info`` are the very
objects given to lifespan) are made only for applications with a lifespan, whose
startup marks the beginning of one server run.

The checks are split by the spec's sections: ``_app`` (the application and
lifespan, sections 2 and 7), ``_request`` (sections 3 to 5) and ``_response``
(sections 6 and 9).
"""

from ._app import validate as validate
from ._violation import SpecViolation as SpecViolation

__all__ = ["SpecViolation", "validate"]
