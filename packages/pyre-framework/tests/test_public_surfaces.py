"""The public surface of each public module of ``pyre.framework``: changing one must be deliberate.

Each module's ``__all__`` is compared with an explicit set (as trio does), every
name in it must exist, and the import paths the docs use keep working after a
name moved to a module of its own (``responses`` and ``convertors`` are packages).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

EXPECTED: dict[str, set[str]] = {
    "pyre.framework.responses": {
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
    },
    "pyre.framework.convertors": {
        "AdapterConverter",
        "BoolConverter",
        "ChoiceConverter",
        "ConstrainedConverter",
        "Converter",
        "DateConverter",
        "DateTimeConverter",
        "DecimalConverter",
        "FloatConverter",
        "IntConverter",
        "JSONSchema",
        "PathConverter",
        "SlugConverter",
        "StringConverter",
        "TimeConverter",
        "UUIDConverter",
        "UnionConverter",
        "converter_for",
        "converter_from_pattern",
        "is_model",
        "register_converter",
        "schema_of",
    },
    "pyre.framework.exceptions": {
        "ConverterError",
        "ExtensionError",
        "FrameworkError",
        "HTTPException",
        "RequestValidationError",
        "RouteConflict",
        "RouteError",
        "URLBuildError",
    },
    "pyre.framework.datastructures": {
        "URL",
        "FormData",
        "ImmutableMultiDict",
        "QueryParams",
        "UploadFile",
        "parse_cookie_header",
        "request_url",
        "split_authority",
    },
    "pyre.framework.middleware": {"CallNext", "Middleware", "SessionMiddleware", "compose"},
    "pyre.framework.middleware.sessions": {"MAX_COOKIE_SIZE", "Session", "SessionMiddleware"},
    "pyre.framework.middleware.cors": {"CORSMiddleware"},
    "pyre.framework.middleware.gzip": {"GZipMiddleware", "accepts_coding", "accepts_gzip"},
    "pyre.framework.middleware.requestid": {"RequestIDMiddleware", "current_request_id"},
    "pyre.framework.middleware.trustedhost": {"TrustedHostMiddleware"},
    "pyre.framework.mounting": {"Mount", "MountedRequest", "normalise_prefix"},
    "pyre.framework.openapi": {
        "SWAGGER_UI_CSS",
        "SWAGGER_UI_JS",
        "SWAGGER_UI_VERSION",
        "build_document",
        "docs_page",
    },
    "pyre.framework.requests": {"Request", "RequestBody"},
    "pyre.framework.staticfiles": {"StaticFiles"},
    "pyre.framework.templating": {"Jinja2Templates"},
    "pyre.framework.testing": {
        "AsyncTestClient",
        "AsyncWebSocketSession",
        "TestClient",
        "TestResponse",
        "WebSocketRefused",
        "WebSocketSession",
    },
    "pyre.framework.websockets": {
        "CLOSE_TIMEOUT",
        "MAX_MESSAGE",
        "WebSocket",
        "WebSocketDisconnect",
        "WebSocketEndpoint",
        "handshake_refusal",
    },
    "pyre.framework.formparsers": {
        "DEFAULT_LIMITS",
        "FormLimits",
        "MultipartParser",
        "parse_multipart",
        "parse_options_header",
        "parse_urlencoded",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_all_is_exactly_the_expected_set(name: str) -> None:
    module = importlib.import_module(name)
    assert set(module.__all__) == EXPECTED[name]
    missing = {attribute for attribute in EXPECTED[name] if not hasattr(module, attribute)}
    assert missing == set()


# (module, name) pairs the documentation imports; the class must be the one its concept module defines.
DOCUMENTED = [
    ("pyre.framework.responses", "FileResponse", "pyre.framework.responses.files"),
    ("pyre.framework.responses", "RequestAwareResponse", "pyre.framework.responses.base"),
    ("pyre.framework.responses", "EventSourceResponse", "pyre.framework.responses.sse"),
    ("pyre.framework.responses", "ServerSentEvent", "pyre.framework.responses.sse"),
    ("pyre.framework.responses", "to_response", "pyre.framework.responses.coercion"),
    ("pyre.framework.responses", "JSONResponse", "pyre.framework.responses.base"),
    ("pyre.framework.convertors", "IntConverter", "pyre.framework.convertors.builtin"),
    ("pyre.framework.convertors", "AdapterConverter", "pyre.framework.convertors.composite"),
    ("pyre.framework.convertors", "converter_for", "pyre.framework.convertors.annotations"),
    ("pyre.framework.convertors", "register_converter", "pyre.framework.convertors.registry"),
    ("pyre.framework.routing", "decode_segments", "pyre.framework.routing"),
    ("pyre.framework.staticfiles", "StaticFiles", "pyre.framework.staticfiles"),
]


@pytest.mark.parametrize(("module_name", "name", "home"), DOCUMENTED)
def test_documented_import_paths_still_work(module_name: str, name: str, home: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    value = getattr(module, name)
    assert value is getattr(importlib.import_module(home), name)
    assert value.__module__ == home
