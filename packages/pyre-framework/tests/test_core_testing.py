"""The test clients themselves: request encoding, cookies, HEAD, lifespan, threads."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

from pyre import framework
from pyre.framework import App, Request, responses
from pyre.framework.datastructures import UploadFile
from pyre.framework.testing import AsyncTestClient, TestClient


class Echo(framework.Blueprint):
    @framework.endpoint("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(self, request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "target": request.spec.target.decode(),
            "host": request.headers.get("host"),
            "length": request.headers.get("content-length"),
            "type": request.headers.get("content-type"),
            "body": (await request.body.bytes()).decode(),
            "cookies": request.cookies,
        }

    @framework.endpoint("/form", methods=["POST"])
    async def form(self, request: Request) -> dict[str, Any]:
        form = await request.body.form()
        upload = form.get("file")
        assert isinstance(upload, UploadFile)
        return {"name": form.get("name"), "filename": upload.filename, "data": (await upload.read()).decode()}

    @framework.endpoint("/login", methods=["POST"])
    async def login(self) -> responses.Response:
        response = responses.TextResponse("in")
        response.set_cookie("session", "s1")
        return response

    @framework.endpoint("/logout", methods=["POST"])
    async def logout(self) -> responses.Response:
        response = responses.TextResponse("out")
        response.delete_cookie("session")
        return response


def client() -> TestClient:
    app = App()
    app.add_blueprint(Echo())
    return TestClient(app)


def test_params_are_encoded_into_the_target() -> None:
    got = client().get("/echo?a=1", params={"b": "x y", "c": [1, 2], "d": True}).json()
    assert got["target"] == "/echo?a=1&b=x+y&c=1&c=2&d=true"
    assert got["host"] == "testserver"
    assert got["length"] is None


def test_json_data_and_content_bodies() -> None:
    c = client()
    as_json = c.post("/echo", json={"a": 1}).json()
    assert (as_json["type"], as_json["body"], as_json["length"]) == ("application/json", '{"a":1}', "7")
    as_form = c.put("/echo", data={"a": "1", "b": ["2", "3"]}).json()
    assert (as_form["type"], as_form["body"]) == ("application/x-www-form-urlencoded", "a=1&b=2&b=3")
    raw = c.patch("/echo", content="raw", headers={"content-type": "text/plain"}).json()
    assert (raw["type"], raw["body"]) == ("text/plain", "raw")
    assert c.delete("/echo").json()["length"] is None


def test_files_are_sent_as_multipart() -> None:
    response = client().post("/form", data={"name": "doc"}, files={"file": ("a.txt", b"hello", "text/plain")})
    assert response.json() == {"name": "doc", "filename": "a.txt", "data": "hello"}


def test_cookies_are_kept_and_dropped() -> None:
    c = client()
    c.post("/login")
    assert c.cookies == {"session": "s1"}
    assert c.get("/echo").json()["cookies"] == {"session": "s1"}
    assert c.get("/echo", cookies={"extra": "1"}).json()["cookies"] == {"session": "s1", "extra": "1"}
    c.post("/logout")
    assert c.cookies == {}


def test_every_request_runs_on_the_same_loop() -> None:
    # The loops themselves are kept: comparing id()s could pass with a new loop per request,
    # since a freed loop's id is reused by the next one.
    loops: list[asyncio.AbstractEventLoop] = []

    async def record() -> str:
        loops.append(asyncio.get_running_loop())
        return "ok"

    app = App()
    app.add_endpoint("/record", record)
    with TestClient(app) as c:
        c.get("/record")
        c.get("/record")
    assert len(loops) == 2
    assert loops[0] is loops[1]


def test_text_uses_the_charset() -> None:
    app = App()

    async def latin() -> responses.Response:
        return responses.Response("café".encode("latin-1"), media_type="text/plain; charset=latin-1")

    app.add_endpoint("/latin", latin)
    assert TestClient(app).get("/latin").text == "café"


async def test_sync_client_inside_a_running_loop() -> None:
    assert client().get("/echo").status_code == 200


async def test_async_client_without_lifespan() -> None:
    app = App()
    app.add_blueprint(Echo())
    response = await AsyncTestClient(app).post("/echo", json=[1])
    assert response.json()["body"] == "[1]"


def test_the_background_loop_stops_with_the_client() -> None:
    def workers() -> int:
        return sum(thread.name == "pyre-test-client" for thread in threading.enumerate())

    before = workers()
    c = client()
    c.get("/echo")
    assert workers() == before + 1
    del c
    gc.collect()
    assert workers() == before
    with client() as c:
        c.get("/echo")
    assert workers() == before
