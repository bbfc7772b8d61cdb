"""pyre-spec: the typed interface between HTTP servers and Python applications.

This module mirrors the normative document ``docs/spec/`` section by section;
``pyre.spec.testing`` is the conformance kit.
"""

from .__about__ import __version__ as __version__
from ._application import Application as Application
from ._application import HasLifespan as HasLifespan
from ._errors import ClientDisconnected as ClientDisconnected
from ._errors import RequestBodyTooLarge as RequestBodyTooLarge
from ._errors import SpecError as SpecError
from ._headers import Headers as Headers
from ._headers import RawHeaders as RawHeaders
from ._request import Address as Address
from ._request import Body as Body
from ._request import Request as Request
from ._request import State as State
from ._request import read_to_end as read_to_end
from ._response import FileBody as FileBody
from ._response import Response as Response
from ._response import ResponseBody as ResponseBody
from ._response import Trailers as Trailers
from ._response import UpgradeHandler as UpgradeHandler
from ._upgrade import ByteStream as ByteStream
from ._version import EXT_EARLY_HINTS as EXT_EARLY_HINTS
from ._version import EXT_SENDFILE as EXT_SENDFILE
from ._version import EXT_TLS as EXT_TLS
from ._version import EXT_UPGRADE as EXT_UPGRADE
from ._version import SPEC_VERSION as SPEC_VERSION
from ._version import ServerInfo as ServerInfo

__all__ = [
    "Address",
    "Application",
    "Body",
    "ByteStream",
    "ClientDisconnected",
    "EXT_EARLY_HINTS",
    "EXT_SENDFILE",
    "EXT_TLS",
    "EXT_UPGRADE",
    "FileBody",
    "HasLifespan",
    "Headers",
    "RawHeaders",
    "Request",
    "RequestBodyTooLarge",
    "Response",
    "ResponseBody",
    "SPEC_VERSION",
    "ServerInfo",
    "SpecError",
    "State",
    "Trailers",
    "UpgradeHandler",
    "__version__",
    "read_to_end",
]
