"""pyre-spec: the typed interface between HTTP servers and Python applications.

This module mirrors the normative document ``docs/spec/`` section by section;
``pyre.spec.testing`` is the conformance kit.
"""

from .__about__ import __version__ as __version__
from ._application import Application as Application
from ._application import HasLifespan as HasLifespan
from ._errors import ClientDisconnected as ClientDisconnected
from ._errors import FileTooShort as FileTooShort
from ._errors import RequestBodyTooLarge as RequestBodyTooLarge
from ._errors import SpecError as SpecError
from ._files import FileBodyReader as FileBodyReader
from ._files import open_file_body as open_file_body
from ._headers import Headers as Headers
from ._headers import RawHeaders as RawHeaders
from ._paths import decode_path as decode_path
from ._paths import path_segments as path_segments
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
from ._status import REASON_PHRASES as REASON_PHRASES
from ._status import STATUSES_WITHOUT_CONTENT as STATUSES_WITHOUT_CONTENT
from ._syntax import TOKEN_REGEX as TOKEN_REGEX
from ._syntax import is_field_value as is_field_value
from ._syntax import is_lowercase_token as is_lowercase_token
from ._syntax import is_token as is_token
from ._upgrade import ByteStream as ByteStream
from ._version import EXT_EARLY_HINTS as EXT_EARLY_HINTS
from ._version import EXT_SENDFILE as EXT_SENDFILE
from ._version import EXT_TLS as EXT_TLS
from ._version import EXT_UPGRADE as EXT_UPGRADE
from ._version import SPEC_VERSION as SPEC_VERSION
from ._version import ServerInfo as ServerInfo
from ._websocket import EXT_WEBSOCKET as EXT_WEBSOCKET
from ._websocket import WebSocketSession as WebSocketSession
from ._wrapper import RequestWrapper as RequestWrapper

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
    "EXT_WEBSOCKET",
    "FileBody",
    "FileBodyReader",
    "FileTooShort",
    "HasLifespan",
    "Headers",
    "REASON_PHRASES",
    "RawHeaders",
    "Request",
    "RequestBodyTooLarge",
    "RequestWrapper",
    "Response",
    "ResponseBody",
    "SPEC_VERSION",
    "ServerInfo",
    "SpecError",
    "STATUSES_WITHOUT_CONTENT",
    "State",
    "TOKEN_REGEX",
    "Trailers",
    "UpgradeHandler",
    "WebSocketSession",
    "__version__",
    "decode_path",
    "is_field_value",
    "is_lowercase_token",
    "is_token",
    "open_file_body",
    "path_segments",
    "read_to_end",
]
