"""HTML pages from Jinja2 templates: ``pip install 'pyre-framework[templates]'``.

::

    templates = Jinja2Templates(directory="templates")

    class Pages(framework.Blueprint):
        @framework.endpoint("/hello/{name}")
        async def hello(self, request: Request, name: str) -> HTMLResponse:
            return templates.response(request, "hello.html", {"name": name})

Autoescaping is on for every template, whatever its file name: values are
HTML-escaped unless marked safe (``|safe``, ``markupsafe.Markup``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

try:
    import jinja2
except ImportError as error:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(
        "pyre.framework.templating needs Jinja2: pip install 'pyre-framework[templates]'"
    ) from error

from .requests import Request
from .responses import HeaderInput, HTMLResponse


class Jinja2Templates:
    """Templates loaded from ``directory``, rendered into ``HTMLResponse``\\ s.

    ``environment`` is the ``jinja2.Environment``: add filters and globals to
    it.  Every template also gets ``request`` and ``url_for(name, **params)``,
    which is ``request.app.url_for`` with the request's ``root_path`` in front, so
    the link works wherever the app is mounted or proxied.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.fspath(directory)), autoescape=True
        )

    def response(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        headers: HeaderInput = None,
    ) -> HTMLResponse:
        """Template ``name`` rendered with ``context`` (plus ``request`` and ``url_for``)."""
        template = self.environment.get_template(name)
        content = template.render({**(context or {}), "request": request, "url_for": _url_for(request)})
        return HTMLResponse(content, status=status, headers=headers)


def _url_for(request: Request) -> Callable[..., str]:
    def url_for(name: str, /, **parameters: Any) -> str:
        path: str = request.app.url_for(name, **parameters)
        return request.spec.root_path + path

    return url_for


__all__ = [
    "Jinja2Templates",
]
