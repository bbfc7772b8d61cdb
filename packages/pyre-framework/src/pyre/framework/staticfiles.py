"""Static files: a directory served read-only, with no way out of it.

::

    files = StaticFiles(directory="static")
    app.add_endpoint("/static/{path:path}", files.endpoint, name="static")

A ``StaticFiles`` is also a pyre-spec application of its own: called with a
request, it serves ``request.raw_path`` relative to its directory, so it can be
served directly (``pyre serve module:files``) or under a prefix by whatever
strips that prefix from the path.

A request path is checked before the filesystem is touched: it is split on
``/`` while still percent-encoded, each segment is decoded and must be UTF-8
(``routing.decode_segments``), and no segment may be empty (but the last), be
``.`` or ``..``, or hold a ``/``, a backslash or a NUL.  The path is then
resolved (``os.path.realpath``) and must still be inside the resolved
directory, so a symlink that points out of it is refused unless
``follow_symlink=True``.  Only regular files are served; a directory is served
as its ``index.html`` with ``html=True`` and is otherwise not found.  Files are
sent by ``FileResponse``: ``ETag``, ``Last-Modified``, conditional requests and
ranges.  Whatever is refused is a ``404``, like a file that does not exist, so
the answer says nothing about what lies outside the directory; with
``html=True`` its content is the directory's ``404.html`` if there is one.

A file with a precompressed sibling (``app.css.br``, ``app.css.gz``, looked up
as carefully as the file) is sent as that sibling to a client whose
``Accept-Encoding`` takes it, Brotli first: ``Content-Encoding`` says which,
``Vary: Accept-Encoding`` is on every answer for that file, and the ETag and
ranges are those of the sibling's bytes (its own file, so its own validator,
as nginx's ``gzip_static`` does).
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Sequence
from urllib.parse import quote

import pyre.spec

from .errors import error_response
from .exceptions import HTTPException
from .middleware.gzip import accepts_coding
from .requests import Request
from .responses import FileResponse, RedirectResponse
from .routing import decode_segments

_METHODS = ("GET", "HEAD")
_ALLOW = {"Allow": "GET, HEAD"}
# Precompressed siblings, in the order they are preferred: (file name suffix, content coding).
_PRECOMPRESSED = ((".br", "br"), (".gz", "gzip"))


class StaticFiles:
    """Serves the files under ``directory`` for ``GET`` and ``HEAD``.

    ``html=True`` serves a directory's ``index.html`` for a path ending in ``/``,
    redirects the same path without the ``/`` to it, and answers what is not
    found with the directory's ``404.html`` (status ``404``) if it has one.  ``follow_symlink=True``
    also serves files that symlinks inside the directory lead to outside of it.
    The directory must exist when the ``StaticFiles`` is made.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, html: bool = False, follow_symlink: bool = False
    ) -> None:
        root = os.path.realpath(directory)
        if not stat.S_ISDIR(os.stat(root).st_mode):
            raise NotADirectoryError(f"StaticFiles: {os.fspath(directory)!r} is not a directory")
        self.directory = root
        self.html = html
        self.follow_symlink = follow_symlink
        self._inside = root if root.endswith(os.sep) else root + os.sep
        """The prefix of every path under the root."""

    async def __call__(self, request: pyre.spec.Request) -> pyre.spec.Response:
        """The pyre-spec application: ``request.raw_path`` is the path under the directory."""
        if request.method not in _METHODS:
            return error_response(405, "Method Not Allowed", _ALLOW)
        raw_path = request.raw_path
        segments = decode_segments(raw_path) if raw_path.startswith(b"/") else None
        accept_encoding = request.headers.get("accept-encoding")
        response = None if segments is None else self.response_for(segments, accept_encoding)
        if isinstance(response, FileResponse):
            try:
                await response.prepare(Request(request))
            except OSError:  # gone or replaced since it was looked up
                response = None
        if response is None:
            response = await self._not_found(Request(request))
        return response or error_response(404, "Not Found")

    async def endpoint(self, request: Request, path: str) -> pyre.spec.Response:
        """The handler of a ``{path:path}`` route: ``add_endpoint("/s/{path:path}", files.endpoint)``."""
        return await self._answer(request, path.split("/"))

    async def index(self, request: Request) -> pyre.spec.Response:
        """The handler of the prefix itself (``"/static/"``): the directory's ``index.html`` if ``html``."""
        return await self._answer(request, [""])

    async def _answer(self, request: Request, segments: Sequence[str]) -> pyre.spec.Response:
        if request.method not in _METHODS:
            raise HTTPException(405, headers=_ALLOW)
        response = self.response_for(segments, request.headers.get("accept-encoding"))
        if isinstance(response, FileResponse):
            try:
                await response.prepare(request)
            except OSError:  # gone or replaced since it was looked up
                response = None
        if response is None:
            response = await self._not_found(request)
        if response is None:
            raise HTTPException(404)
        return response

    async def _not_found(self, request: Request) -> FileResponse | None:
        """The directory's ``404.html`` with status 404 if ``html`` and it exists, else ``None``."""
        if not self.html:
            return None
        page = self._lookup(os.path.join(self.directory, "404.html"))
        if page is None or page[1]:
            return None
        response = FileResponse(page[0], status=404, media_type="text/html")
        try:
            await response.prepare(request)
        except OSError:
            return None
        return response

    def response_for(
        self, segments: Sequence[str], accept_encoding: str | None = None
    ) -> FileResponse | RedirectResponse | None:
        """What answers the decoded path ``segments`` under the directory for a client sending
        ``accept_encoding``; ``None`` for a 404."""
        if not segments:
            return None
        *parents, last = segments
        if not all(_is_name(segment) for segment in parents) or not (last == "" or _is_name(last)):
            return None
        found = self._lookup(os.path.join(self.directory, *segments))
        if found is None:
            return None
        path, is_directory = found
        if not is_directory:
            # "hello.txt/" names a directory: realpath drops the "/", the file system would not.
            return None if last == "" else self._file(path, _media_type(last), accept_encoding)
        if not self.html:
            return None
        index = self._lookup(os.path.join(path, "index.html"))
        if index is None or index[1]:
            return None
        if last != "":
            # A relative reference: "docs" -> "docs/" wherever the directory is mounted.
            return RedirectResponse(quote(last, safe="") + "/")
        return self._file(index[0], "text/html", accept_encoding)

    def _file(self, path: str, media_type: str | None, accept_encoding: str | None) -> FileResponse:
        """``path``, or the precompressed sibling of it that the client takes first."""
        chosen: tuple[str, str] | None = None
        varies = False
        for suffix, coding in _PRECOMPRESSED:
            try:  # one lstat when there is no sibling, the common case; a full lookup when there is
                os.lstat(path + suffix)
            except (OSError, ValueError):
                continue
            sibling = self._lookup(path + suffix)
            if sibling is None or sibling[1]:
                continue
            varies = True
            if chosen is None and accepts_coding(accept_encoding, coding):
                chosen = sibling[0], coding
        if not varies:
            return FileResponse(path, media_type=media_type)
        headers = [("vary", "accept-encoding")]
        if chosen is None:
            return FileResponse(path, headers=headers, media_type=media_type)
        headers.append(("content-encoding", chosen[1]))
        return FileResponse(chosen[0], headers=headers, media_type=media_type or "application/octet-stream")

    def _lookup(self, candidate: str) -> tuple[str, bool] | None:
        """The resolved path of ``candidate`` and whether it is a directory; ``None`` when it is
        missing, neither a regular file nor a directory, or (unless symlinks are followed) outside."""
        resolved = os.path.realpath(candidate)
        if not self.follow_symlink and not (resolved == self.directory or resolved.startswith(self._inside)):
            return None
        try:
            mode = os.stat(resolved).st_mode
        except (OSError, ValueError):
            return None
        if stat.S_ISDIR(mode):
            return resolved, True
        return (resolved, False) if stat.S_ISREG(mode) else None


def _media_type(name: str) -> str | None:
    """The media type of the file ``name`` as it is stored: ``app.css.gz`` is gzip data, not CSS."""
    media_type, coding = mimetypes.guess_type(name)
    if coding is None:
        return media_type
    return "application/gzip" if coding == "gzip" else "application/octet-stream"


def _is_name(segment: str) -> bool:
    """Whether ``segment`` can only name an entry of the directory it is looked up in."""
    if segment in ("", ".", ".."):
        return False
    return "/" not in segment and "\\" not in segment and "\x00" not in segment


__all__ = [
    "StaticFiles",
]
