"""The public surface of pyre.asgi: names only go away through a major version."""

import pyre.asgi
import pyre.spec

EXPECTED = {
    "ASGIError",
    "ASGIProtocolError",
    "ASGIClientDisconnected",
    "LifespanFailure",
    "__version__",
    "from_asgi",
    "is_asgi_app",
    "to_asgi",
}


def test_asgi_exports() -> None:
    assert set(pyre.asgi.__all__) == EXPECTED
    for name in pyre.asgi.__all__:
        assert hasattr(pyre.asgi, name), name


def test_error_tree() -> None:
    assert issubclass(pyre.asgi.ASGIProtocolError, pyre.asgi.ASGIError)
    assert issubclass(pyre.asgi.LifespanFailure, pyre.asgi.ASGIError)
    assert issubclass(pyre.asgi.ASGIClientDisconnected, pyre.asgi.ASGIError)
    # ASGI HTTP spec 2.4: send() after a disconnect raises an OSError subclass ...
    assert issubclass(pyre.asgi.ASGIClientDisconnected, OSError)
    # ... which a pyre server recognises as the client having left.
    assert issubclass(pyre.asgi.ASGIClientDisconnected, pyre.spec.ClientDisconnected)


def test_namespace_package_has_no_init() -> None:
    import pyre

    assert getattr(pyre, "__file__", None) is None


def test_version_is_semver() -> None:
    assert len(pyre.asgi.__version__.split(".")) == 3
