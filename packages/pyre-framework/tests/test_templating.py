"""Jinja2Templates: HTML responses with autoescaping, request and url_for in every template."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import jinja2
import pytest

from pyre import framework
from pyre.framework import App, Request
from pyre.framework.responses import HTMLResponse
from pyre.framework.templating import Jinja2Templates
from pyre.framework.testing import TestClient
from pyre.spec.testing import Driver


@pytest.fixture
def templates(tmp_path: pathlib.Path) -> Jinja2Templates:
    (tmp_path / "hello.html").write_text(
        "<p>Hello, {{ name }}!</p><a href=\"{{ url_for('Pages.user', id=7) }}\">{{ request.method }}</a>"
    )
    (tmp_path / "raw.txt").write_text("{{ name }}")
    return Jinja2Templates(directory=tmp_path)


def client_for(templates: Jinja2Templates) -> TestClient:
    class Pages(framework.Blueprint):
        @framework.endpoint("/hello/{name}")
        async def hello(self, request: Request, name: str) -> HTMLResponse:
            return templates.response(request, "hello.html", {"name": name})

        @framework.endpoint("/users/{id:int}")
        async def user(self, request: Request, id: int) -> HTMLResponse:
            return templates.response(
                request, "raw.txt", {"name": "<b>"}, status=404, headers={"x-page": "raw"}
            )

        @framework.endpoint("/missing")
        async def missing(self, request: Request) -> HTMLResponse:
            return templates.response(request, "nowhere.html")

    app: App[Any] = App()
    app.add_blueprint(Pages())
    return TestClient(app)


def test_a_template_is_an_html_response_with_request_and_url_for(templates: Jinja2Templates) -> None:
    response = client_for(templates).get("/hello/ada")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == '<p>Hello, ada!</p><a href="/users/7">GET</a>'


def test_values_are_escaped_in_every_template_whatever_its_name(templates: Jinja2Templates) -> None:
    client = client_for(templates)
    assert client.get("/hello/%3Cscript%3E").text.startswith("<p>Hello, &lt;script&gt;!</p>")
    response = client.get("/users/1")  # raw.txt: autoescaped although not .html
    assert (response.status_code, response.text) == (404, "&lt;b&gt;")
    assert response.headers["x-page"] == "raw"


async def test_url_for_puts_the_root_path_in_front(templates: Jinja2Templates) -> None:
    app = client_for(templates).inner.app
    async with Driver(app) as driver:
        response = await driver.send(driver.build("GET", "/hello/x", root_path="/shop"))
    assert b'href="/shop/users/7"' in response.body


def test_a_missing_template_is_a_server_error(templates: Jinja2Templates) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        templates.environment.get_template("nowhere.html")
    assert client_for(templates).get("/missing").status_code == 500


def test_without_jinja2_the_import_error_names_the_extra() -> None:
    code = "import sys; sys.modules['jinja2'] = None; import pyre.framework.templating"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "pip install 'pyre-framework[templates]'" in result.stderr
