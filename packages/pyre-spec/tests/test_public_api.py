"""The public surface of pyre.spec: names only go away through a major version."""

import pyre.spec
import pyre.spec.testing

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
}


def test_spec_exports() -> None:
    assert set(pyre.spec.__all__) == EXPECTED_SPEC
    for name in pyre.spec.__all__:
        assert hasattr(pyre.spec, name), name


def test_testing_exports_resolve() -> None:
    for name in pyre.spec.testing.__all__:
        assert hasattr(pyre.spec.testing, name), name


def test_namespace_package_has_no_init() -> None:
    import pyre

    assert getattr(pyre, "__file__", None) is None


def test_spec_version_matches_package_major_minor() -> None:
    major, minor, _ = pyre.spec.__version__.split(".")
    assert pyre.spec.SPEC_VERSION == f"{major}.{minor}"
