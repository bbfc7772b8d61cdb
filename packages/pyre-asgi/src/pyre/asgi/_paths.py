"""Where ``root_path`` goes: inside an ASGI ``path``, outside a pyre-spec one.

The ASGI spec's ``root_path`` is "the root path this application is mounted
at; same as ``SCRIPT_NAME`` in WSGI", and "``PATH_INFO`` can be derived by
stripping ``root_path`` from ``path``": an ASGI ``path`` (and ``raw_path``)
includes the prefix.  This is what uvicorn does with ``--root-path`` and what
Starlette's routing expects.  pyre-spec's ``path`` is what follows the prefix
(PYRE-REQ-12: an application builds external URLs as ``root_path + path``).
So ``from_asgi`` puts the prefix in front, and ``to_asgi`` takes it off.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from pyre.spec import Request


def asgi_paths(request: Request, root_path: str) -> tuple[str, bytes]:
    """The ASGI ``path`` and ``raw_path`` of ``request``, mounted at ``root_path`` (not ``""``)."""
    return root_path + request.path, raw_prefix(root_path) + request.raw_path


def pyre_paths(path: str, raw_path: bytes | None, root_path: str) -> tuple[str, bytes | None]:
    """An ASGI ``path`` and ``raw_path`` without the ``root_path`` (not ``""``) they begin with.

    A path that does not start with the prefix as a whole segment is left as it is:
    the server did not put the prefix there (older uvicorn, hypercorn).
    """
    if not path.startswith(root_path) or path[len(root_path) : len(root_path) + 1] != "/":
        return path, raw_path
    stripped = path[len(root_path) :]
    prefix = raw_prefix(root_path)
    if raw_path is not None and raw_path.startswith(prefix + b"/"):
        return stripped, raw_path[len(prefix) :]
    return stripped, None  # the raw form is then derived from the path


@lru_cache(maxsize=16)
def raw_prefix(root_path: str) -> bytes:
    """``root_path`` as it appears in a request-target: percent-encoded where it must be."""
    return quote(root_path, safe="/:@!$&'()*+,;=~").encode("ascii")
