"""app.mount: a sub-App, StaticFiles or any pyre-spec application under a prefix; url_for across."""

from __future__ import annotations

import pathlib
from typing import Any

import orjson
import pytest

import pyre.spec
from pyre import framework
from pyre.framework import App, Request, RouteError, URLBuildError
from pyre.framework.mounting import MountedRequest
from pyre.framework.staticfiles import StaticFiles
from pyre.framework.testing import AsyncTestClient, TestClient
from pyre.spec.testing import Driver, MemoryRequest


async def echo(request: pyre.spec.Request) -> pyre.spec.Response:
    """A bare pyre-spec application: says what it was given."""
    seen = {"raw_path": request.raw_path.decode(), "path": request.path, "root_path": request.root_path}
    seen["query"] = request.query.decode()
    return pyre.spec.Response(200, [(b"content-type", b"application/json")], orjson.dumps(seen))


class Users(framework.Blueprint):
    prefix = "/users"

    @framework.endpoint("/{id:int}")
    async def get(self, request: Request, id: int) -> dict[str, Any]:
        return {"id": id, "url": str(request.url), "app path": request.app.url_for("Users.get", id=id)}


def test_a_mounted_application_sees_the_path_below_and_the_prefix_in_root_path() -> None:
    app = App()
    app.mount("/echo", echo)
    client = TestClient(app)
    assert client.get("/echo/a%20b/c?x=1").json() == {
        "raw_path": "/a%20b/c",
        "path": "/a b/c",
        "root_path": "/echo",
        "query": "x=1",
    }
    assert client.get("/echo").json()["raw_path"] == "/"
    assert client.get("/echo/").json()["raw_path"] == "/"


def test_the_prefix_matches_whole_segments_only() -> None:
    app = App()
    app.mount("/echo", echo)
    client = TestClient(app)
    assert client.get("/echox").status_code == 404
    assert client.get("/echox/a").status_code == 404
    assert client.get("/ech").status_code == 404


def test_nested_mounts_join_their_prefixes() -> None:
    inner = App()
    inner.mount("/deep", echo)
    app = App()
    app.mount("/outer/", inner)  # a trailing "/" is the same prefix
    assert TestClient(app).get("/outer/deep/x").json()["root_path"] == "/outer/deep"


def test_the_prefix_may_arrive_percent_encoded_but_never_as_an_encoded_slash() -> None:
    app = App()
    app.mount("/a/b", echo)
    client = TestClient(app)
    assert client.get("/%61/b/c%2Fd").json() == {
        "raw_path": "/c%2Fd",
        "path": "/c/d",
        "root_path": "/a/b",
        "query": "",
    }
    assert client.get("/a%2Fb/c").status_code == 404


def test_routes_of_the_app_answer_before_its_mounts() -> None:
    app = App()
    app.mount("/echo", echo)
    app.add_endpoint("/echo/mine", lambda: "the app's own")
    client = TestClient(app)
    assert client.get("/echo/mine").text == "the app's own"
    assert client.get("/echo/other").json()["raw_path"] == "/other"
    # A method the route does not take is the mount's to answer, as every path under the prefix.
    assert client.post("/echo/mine").json()["raw_path"] == "/mine"


def test_a_sub_app_builds_urls_with_its_mount_point() -> None:
    api = App()
    api.add_blueprint(Users())
    app = App()
    app.mount("/api/v1", api, name="v1")
    answer = TestClient(app).get("/api/v1/users/7").json()
    # The sub-app's url_for is a path within it; the prefix is the request's root_path.
    assert answer == {"id": 7, "url": "http://testserver/api/v1/users/7", "app path": "/users/7"}
    assert app.url_for("v1:Users.get", id=7) == "/api/v1/users/7"


def test_url_for_across_mounts(tmp_path: pathlib.Path) -> None:
    api = App()
    api.add_blueprint(Users())
    inner = App()
    inner.add_endpoint("/x/{name}", lambda name: name, name="x")
    api.mount("/inner", inner, name="inner")
    app = App()
    app.mount("/api", api, name="api")
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    assert app.url_for("api:Users.get", id=3) == "/api/users/3"
    assert app.url_for("api:inner:x", name="a b") == "/api/inner/x/a%20b"
    assert app.url_for("static", path="css/site main.css") == "/static/css/site%20main.css"
    assert app.url_for("static") == "/static/"
    with pytest.raises(URLBuildError, match="no mount named 'nope'"):
        app.url_for("nope:Users.get", id=3)
    with pytest.raises(URLBuildError, match="not an App"):
        app.url_for("static:file")
    with pytest.raises(URLBuildError, match="dot segments"):
        app.url_for("static", path="../app.py")
    with pytest.raises(URLBuildError, match="only a path"):
        app.url_for("static", path="a", other=1)
    with pytest.raises(URLBuildError, match=r"no endpoint named 'Users\.get'"):
        app.url_for("Users.get", id=3)  # the sub-app's endpoint is not the parent's


def test_an_endpoint_name_wins_over_a_mount_of_the_same_name(tmp_path: pathlib.Path) -> None:
    app = App()
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    app.add_endpoint("/assets/{path:path}", lambda path: path, name="static")
    assert app.url_for("static", path="a.css") == "/assets/a.css"


@pytest.mark.parametrize("prefix", ["static", "/{name}", "/a%20b", "/a//b", "/a/../b", "/./a", "/a b"])
def test_a_prefix_is_literal_url_text(prefix: str) -> None:
    with pytest.raises(RouteError):
        App().mount(prefix, echo)


def test_a_prefix_or_a_name_is_mounted_once() -> None:
    app = App()
    app.mount("/a", echo, name="a")
    with pytest.raises(RouteError, match="already mounted"):
        app.mount("/a/", echo)
    with pytest.raises(RouteError, match="already named"):
        app.mount("/b", echo, name="a")


def test_mounting_at_the_root_takes_what_no_route_answers() -> None:
    app = App()
    app.add_endpoint("/own", lambda: "own")
    app.mount("/", echo)
    client = TestClient(app)
    assert client.get("/own").text == "own"
    assert client.get("/else/where").json() == {
        "raw_path": "/else/where",
        "path": "/else/where",
        "root_path": "",
        "query": "",
    }


@pytest.mark.parametrize(("method", "target"), [("CONNECT", "example.com:443"), ("OPTIONS", "*")])
async def test_a_root_mount_takes_no_target_without_a_path(method: str, target: str) -> None:
    app = App()
    app.mount("/", echo)
    async with Driver(app) as driver:
        answer = await driver.send(MemoryRequest(method, target))
    assert answer.status == 404


def test_a_failing_mounted_application_is_the_parents_error() -> None:
    async def broken(request: pyre.spec.Request) -> pyre.spec.Response:
        raise LookupError("lost")

    app = App()
    app.mount("/broken", broken)
    assert TestClient(app).get("/broken/x").status_code == 500
    app.add_exception_handler(LookupError, lambda request, exc: ({"error": str(exc)}, 503))
    answer = TestClient(app).get("/broken/x")
    assert (answer.status_code, answer.json()) == (503, {"error": "lost"})


def test_the_parents_middleware_wraps_the_mount() -> None:
    async def tag(request: Request, call_next: framework.CallNext) -> pyre.spec.Response:
        response = await call_next(request)
        response.headers = [*response.headers, (b"x-parent", b"yes")]
        return response

    app = App(middleware=[tag])
    app.mount("/echo", echo)
    assert TestClient(app).get("/echo/a").headers["x-parent"] == "yes"


def test_the_mounted_request_keeps_everything_but_the_path() -> None:
    seen: list[MountedRequest] = []

    async def keep(request: pyre.spec.Request) -> pyre.spec.Response:
        assert isinstance(request, MountedRequest)
        seen.append(request)
        body = await request.body.read()
        return pyre.spec.Response(200, [], body)

    app = App()
    app.mount("/keep", keep)
    answer = TestClient(app).post("/keep/x?q=1", content=b"payload", headers={"x-a": "b"})
    assert answer.content == b"payload"
    (request,) = seen
    assert (request.method, request.query, request.target) == ("POST", b"q=1", b"/keep/x?q=1")
    assert request.headers.get("x-a") == "b"
    assert request.original.raw_path == b"/keep/x"
    assert request.client == ("127.0.0.1", 50000)


async def test_mounted_lifespans_run_inside_the_parents() -> None:
    events: list[str] = []
    sub = App()
    sub.on_startup(lambda: events.append("sub up"))
    sub.on_shutdown(lambda: events.append("sub down"))
    app = App()
    app.on_startup(lambda: events.append("app up"))
    app.on_shutdown(lambda: events.append("app down"))
    app.mount("/sub", sub)
    app.mount("/echo", echo)  # no lifespan: nothing to run
    async with AsyncTestClient(app) as client:
        assert events == ["app up", "sub up"]
        assert (await client.get("/sub/none")).status_code == 404
    assert events == ["app up", "sub up", "sub down", "app down"]
    assert sub.server_info is app.server_info is not None


# -- StaticFiles through a mount: the traversal list ----------------------------------------------


@pytest.fixture
def public(tmp_path: pathlib.Path) -> pathlib.Path:
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "hello.txt").write_text("hello, world")
    (public / "sub" / "inner.txt").write_text("inner")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("key")
    (public / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (public / "dir-out").symlink_to(tmp_path / "private")
    return public


@pytest.fixture
def static_client(public: pathlib.Path) -> TestClient:
    app = App()
    app.mount("/static", StaticFiles(directory=public), name="static")
    return TestClient(app)


def test_static_files_through_the_mount(static_client: TestClient) -> None:
    answer = static_client.get("/static/hello.txt")
    assert (answer.status_code, answer.text) == (200, "hello, world")
    etag = answer.headers["etag"]
    assert static_client.get("/static/hello.txt", headers={"if-none-match": etag}).status_code == 304
    part = static_client.get("/static/hello.txt", headers={"range": "bytes=0-4"})
    assert (part.status_code, part.text) == (206, "hello")
    assert static_client.get("/static/sub/inner.txt").text == "inner"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",
        "/static/sub/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/sub/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2Fsecret.txt",
        "/static/sub%2F..%2F..%2Fsecret.txt",
        "/static%2F..%2Fsecret.txt",
        "/static/..%5Csecret.txt",
        "/static/%5C..%5Csecret.txt",
        "/static/sub%5C..%5C..%5Csecret.txt",
        "/static/link-out.txt",
        "/static/dir-out/key.txt",
        "/static/%00hello.txt",
        "/static//hello.txt",
        "/staticx/hello.txt",
        "/static.txt",
    ],
)
def test_no_way_out_of_the_mounted_directory(static_client: TestClient, path: str) -> None:
    answer = static_client.get(path)
    assert answer.status_code == 404
    assert b"secret" not in answer.content
    assert b"key" not in answer.content


def test_a_websocket_endpoint_of_a_mounted_app() -> None:
    class Echo(framework.Blueprint):
        @framework.websocket("/ws/{name}")
        async def echo(self, ws: framework.WebSocket, name: str) -> None:
            await ws.accept()
            async for message in ws.iter_text():
                await ws.send_text(f"{name} {message.upper()} {ws.url.path}")

    chat = App()
    chat.add_blueprint(Echo())
    app = App()
    app.mount("/chat", chat)
    with TestClient(app).websocket_connect("/chat/ws/ada") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "ada HI /chat/ws/ada"
