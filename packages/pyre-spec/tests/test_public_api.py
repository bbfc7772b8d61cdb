"""The public surface of pyre.spec: names only go away through a major version."""

import pyre.spec
import pyre.spec.testing
import pyre.spec.testing.conformance

EXPECTED_SPEC = {
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
    "RawHeaders",
    "REASON_PHRASES",
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
}


def test_spec_exports() -> None:
    assert set(pyre.spec.__all__) == EXPECTED_SPEC
    for name in pyre.spec.__all__:
        assert hasattr(pyre.spec, name), name


EXPECTED_TESTING = {
    "DRIVER_INFO",
    "Driver",
    "DriverResponse",
    "MemoryBody",
    "MemoryRequest",
    "SpecViolation",
    "collect",
    "header_pairs",
    "validate",
}

EXPECTED_CONFORMANCE = {
    "Case",
    "ConnectionClosed",
    "Context",
    "Limits",
    "ProtocolViolation",
    "Results",
    "ServerFactory",
    "WireClient",
    "WireResponse",
    "all_cases",
    "conformance_tests",
}


def test_testing_exports() -> None:
    assert set(pyre.spec.testing.__all__) == EXPECTED_TESTING
    for name in pyre.spec.testing.__all__:
        assert hasattr(pyre.spec.testing, name), name


def test_conformance_exports() -> None:
    assert set(pyre.spec.testing.conformance.__all__) == EXPECTED_CONFORMANCE
    for name in pyre.spec.testing.conformance.__all__:
        assert hasattr(pyre.spec.testing.conformance, name), name


def test_star_imports_give_exactly_all() -> None:
    for module in (pyre.spec, pyre.spec.testing, pyre.spec.testing.conformance):
        namespace: dict[str, object] = {}
        exec(f"from {module.__name__} import *", namespace)
        assert set(namespace) - {"__builtins__"} == set(module.__all__), module.__name__


def test_namespace_package_has_no_init() -> None:
    import pyre

    assert getattr(pyre, "__file__", None) is None


def test_spec_version_matches_package_major_minor() -> None:
    major, minor, _ = pyre.spec.__version__.split(".")
    assert pyre.spec.SPEC_VERSION == f"{major}.{minor}"
