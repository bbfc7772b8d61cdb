"""Versioning and extensions (spec section 10)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

SPEC_VERSION: Final = "1.1"
"""The version of pyre-spec this package describes, ``MAJOR.MINOR``."""

EXT_UPGRADE: Final = "pyre.upgrade"
"""The server carries out ``101 Switching Protocols`` responses (section 9)."""

EXT_SENDFILE: Final = "pyre.sendfile"
"""The server sends ``FileBody`` responses without copying through Python (section 6.7)."""

EXT_EARLY_HINTS: Final = "pyre.early_hints"
"""The server forwards ``103 Early Hints`` sent with ``Request.send_interim`` (section 6.8)."""

EXT_TLS: Final = "pyre.tls"
"""Requests carry ``extensions["pyre.tls"]``: a mapping describing the TLS session (section 10.4)."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a server says about itself; one instance for the server's lifetime."""

    name: str
    """Product and version, for example ``"pyre-server/0.1.0"``."""
    spec_version: str = SPEC_VERSION
    """The pyre-spec version the server implements."""
    extensions: frozenset[str] = field(default_factory=frozenset)
    """Names of the optional extensions the server implements."""

    def supports(self, extension: str) -> bool:
        return extension in self.extensions

    def spec_at_least(self, version: str) -> bool:
        """Whether the server implements ``version`` or a later minor of the same major."""
        want_major, want_minor = _parse(version)
        major, minor = _parse(self.spec_version)
        return major == want_major and minor >= want_minor


def _parse(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)
