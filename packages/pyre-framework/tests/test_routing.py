"""The router: matching order, conflicts, 404/405/HEAD/OPTIONS and url_for."""

from __future__ import annotations

import pathlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyre import framework
from pyre.framework import App, RouteConflict, RouteError, URLBuildError
from pyre.framework.responses import FileResponse
from pyre.framework.routing import Router, compile_pattern
from pyre.framework.testing import TestClient
from pyre.spec.testing import Driver


class Users(framework.Blueprint):
    prefix = "/users"

    @framework.endpoint("/me")
    async def me(self) -> str:
        return "me"

    @framework.endpoint("/{id:int}")
    async def by_id(self, id: int) -> dict[str, object]:
        return {"id": id, "type": type(id).__name__}

    @framework.endpoint("/{name}")
    async def by_name(self, name: str) -> str:
        return f"name {name}"

    @framework.endpoint("/{id:int}/posts/{post:uuid}", methods=["GET", "DELETE"])
    async def post(self, id: int, post: uuid.UUID) -> str:
        return f"{id} {post}"

    @framework.endpoint("/{id:int}/files/{rest:path}")
    async def files(self, id: int, rest: str) -> str:
        return f"{id} {rest}"

    @framework.endpoint("/{id:int}", methods=["PUT"], name="replace")
    async def replace(self, id: int) -> str:
        return f"replaced {id}"


class Root(framework.Blueprint):
    @framework.endpoint("/")
    async def index(self) -> str:
        return "index"

    @framework.endpoint("/items/{item}/edit")
    async def edit(self, item: str) -> str:
        return f"edit {item}"

    @framework.endpoint("/items/special/view")
    async def special(self) -> str:
        return "special view"


@pytest.fixture
def client() -> TestClient:
    app = App()
    app.add_blueprint(Users())
    app.add_blueprint(Root())
    return TestClient(app)


def test_static_segment_wins_over_parameters(client: TestClient) -> None:
    assert client.get("/users/me").text == "me"


def test_typed_parameter_is_tried_before_string(client: TestClient) -> None:
    assert client.get("/users/42").json() == {"id": 42, "type": "int"}
    assert client.get("/users/ada").text == "name ada"


def test_backtracks_from_a_static_dead_end(client: TestClient) -> None:
    # "special" is a literal child of /items, but /items/special/edit is only
    # reachable through the {item} parameter.
    assert client.get("/items/special/edit").text == "edit special"
    assert client.get("/items/special/view").text == "special view"


def test_root_path(client: TestClient) -> None:
    assert client.get("/").text == "index"


def test_several_parameters(client: TestClient) -> None:
    value = uuid.uuid4()
    assert client.get(f"/users/7/posts/{value}").text == f"7 {value}"
    assert client.get("/users/7/posts/not-a-uuid").status_code == 404


def test_path_converter_takes_the_rest(client: TestClient) -> None:
    assert client.get("/users/3/files/a/b/c.txt").text == "3 a/b/c.txt"
    assert client.get("/users/3/files/").status_code == 404


def test_percent_encoded_segments_are_decoded_one_by_one(client: TestClient) -> None:
    assert client.get("/users/caf%C3%A9").text == "name café"
    assert client.get("/users/%2e%2E").status_code == 404  # a dot-segment is no parameter value
    assert client.get("/users/a%252Fb").text == "name a%2Fb"  # decoded once, not twice


@pytest.mark.parametrize("target", ["/users/a%2Fb", "/users/a%2fb", "/users/%2F", "/users/3/files/a%2Fb"])
def test_an_encoded_slash_matches_no_route(client: TestClient, target: str) -> None:
    # A value never holds a "/" the path did not have: {name} is one segment, and
    # {rest:path} splits where the client wrote "/" only.
    assert client.get(target).status_code == 404


@pytest.mark.parametrize(
    "target",
    [b"/users/%C0%AE%C0%AE", b"/users/%FF", b"/users/a%E2%82", b"/users/%ED%A0%80", b"/users/\xff"],
    ids=["overlong-dots", "ff", "truncated", "surrogate", "raw-ff"],
)
async def test_a_segment_that_is_not_utf8_matches_no_route(target: bytes) -> None:
    app = App()
    app.add_blueprint(Users())
    async with Driver(app) as driver:
        response = await driver.request("GET", target)
    assert response.status == 404
    assert response.body == b'{"detail":"Not Found"}'


@pytest.mark.parametrize("pattern", ["/files/{name}", "/files/{name:string}", "/files/{name:str}"])
@pytest.mark.parametrize("name", ["..%2fsecret.txt", "..%2Fsecret.txt", "%2e%2e%2fsecret.txt", "..%2F..%2Fx"])
def test_a_single_segment_parameter_cannot_leave_its_directory(
    tmp_path: pathlib.Path, pattern: str, name: str
) -> None:
    # The route: FileResponse(directory / name) once served ../secret.txt.
    directory = tmp_path / "public"
    directory.mkdir()
    (directory / "hello.txt").write_text("hello")
    (tmp_path / "secret.txt").write_text("secret")

    async def download(name: str) -> FileResponse:
        return FileResponse(directory / name)

    app = App()
    app.add_endpoint(pattern, download)
    client = TestClient(app)
    assert client.get("/files/hello.txt").text == "hello"
    response = client.get(f"/files/{name}")
    assert response.status_code == 404
    assert b"secret" not in response.content


@pytest.mark.parametrize(
    "rest",
    [
        "..",
        ".",
        "../secret",
        "a/../../secret",
        "a/./b",
        "a/.",
        "%2e%2e/secret",
        ".%2E/secret",
        "%2E/b",
        "a/%2e%2e",
        "a%5Cb",
        "..%5Csecret",
        "a%00b",
        "%C0%AE%C0%AE/secret",
    ],
)
def test_path_parameter_refuses_dot_segments_backslashes_and_nul(client: TestClient, rest: str) -> None:
    assert client.get(f"/users/3/files/{rest}").status_code == 404


def test_path_parameter_keeps_dots_that_are_not_segments(client: TestClient) -> None:
    for rest in [".well-known/x", "a/.hidden", "a/b..c", "...", "a/..b", "v1.2/x."]:
        assert client.get(f"/users/3/files/{rest}").text == f"3 {rest}"


def test_path_parameter_opts_in_to_unsafe_values() -> None:
    async def proxy(rest: str) -> str:
        return rest

    app = App()
    app.add_endpoint("/proxy/{rest:path(unsafe=True)}", proxy)
    client = TestClient(app)
    assert client.get("/proxy/../a").text == "../a"
    assert client.get("/proxy/%2e%2e/a%5Cb").text == "../a\\b"
    assert client.get("/proxy/a%00").text == "a\x00"
    assert client.get("/proxy/a%2Fb").status_code == 404  # still never an encoded "/"


def test_unknown_path_is_404_json(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_trailing_slash_is_a_different_path(client: TestClient) -> None:
    assert client.get("/users/me/").status_code == 404


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.post("/users/5")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"


def test_method_found_on_another_route_for_the_same_path(client: TestClient) -> None:
    # PUT is only on {id:int}; /users/me matches the static route first.
    assert client.put("/users/5").text == "replaced 5"
    assert client.put("/users/me").status_code == 405


def test_head_is_answered_by_get(client: TestClient) -> None:
    response = client.head("/users/5")
    assert response.status_code == 200
    assert response.content == b""
    assert response.response is not None
    assert response.response.body == b'{"id":5,"type":"int"}'  # the server drops it on the wire


def test_automatic_options(client: TestClient) -> None:
    response = client.options("/users/5/posts/" + str(uuid.uuid4()))
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_explicit_head_and_options_win() -> None:
    class Explicit(framework.Blueprint):
        @framework.endpoint("/x", methods=["GET"])
        async def get(self) -> str:
            return "get"

        @framework.endpoint("/x", methods=["HEAD", "OPTIONS"])
        async def other(self) -> tuple[str, int, dict[str, str]]:
            return "", 200, {"x-explicit": "yes"}

    app = App()
    app.add_blueprint(Explicit())
    client = TestClient(app)
    assert client.head("/x").headers["x-explicit"] == "yes"
    assert client.options("/x").headers["x-explicit"] == "yes"


def test_conflicting_routes_fail_at_registration() -> None:
    class First(framework.Blueprint):
        @framework.endpoint("/a/{id:int}")
        async def one(self, id: int) -> str:
            return ""

    class Second(framework.Blueprint):
        @framework.endpoint("/a/{other:int}", methods=["GET", "POST"])
        async def two(self, other: int) -> str:
            return ""

    app = App()
    app.add_blueprint(First())
    with pytest.raises(RouteConflict, match=r"GET /a/\{other:int\} \(Second.two\) conflicts with GET"):
        app.add_blueprint(Second())
    # Nothing of the failed blueprint is kept.
    assert TestClient(app).post("/a/1").status_code == 405
    assert app.blueprints == [app.blueprints[0]]


def test_same_shape_with_other_methods_is_fine() -> None:
    class Both(framework.Blueprint):
        @framework.endpoint("/a/{id:int}")
        async def read(self, id: int) -> str:
            return f"read {id}"

        @framework.endpoint("/a/{number:int}", methods=["POST"])
        async def write(self, number: int) -> str:
            return f"write {number}"

    app = App()
    app.add_blueprint(Both())
    client = TestClient(app)
    assert client.get("/a/1").text == "read 1"
    assert client.post("/a/2").text == "write 2"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("no-slash", "must start with '/'"),
        ("/a{b}", "whole segment"),
        ("/{a}/{a}", "appears twice"),
        ("/{p:path}/x", "last segment"),
    ],
)
def test_bad_patterns(pattern: str, message: str) -> None:
    class Bad(framework.Blueprint):
        @framework.endpoint(pattern)
        async def handler(self, a: str = "", b: str = "", p: str = "") -> str:
            return ""

    with pytest.raises(RouteError, match=message):
        App().add_blueprint(Bad())


def test_pattern_parameter_without_handler_parameter() -> None:
    class Bad(framework.Blueprint):
        @framework.endpoint("/{id}")
        async def handler(self) -> str:
            return ""

    with pytest.raises(RouteError, match="takes no parameter"):
        App().add_blueprint(Bad())


def test_duplicate_names_are_rejected() -> None:
    class Dup(framework.Blueprint):
        @framework.endpoint("/a", name="same")
        async def a(self) -> str:
            return ""

        @framework.endpoint("/b", name="same")
        async def b(self) -> str:
            return ""

    with pytest.raises(RouteError, match="already used"):
        App().add_blueprint(Dup())


def test_stacked_endpoint_decorators() -> None:
    class Stacked(framework.Blueprint):
        @framework.endpoint("/one", name="one")
        @framework.endpoint("/two", name="two")
        async def both(self) -> str:
            return "both"

    app = App()
    app.add_blueprint(Stacked())
    client = TestClient(app)
    assert client.get("/one").text == client.get("/two").text == "both"


def test_url_for() -> None:
    app = App()
    app.add_blueprint(Users())
    value = uuid.UUID(int=5)
    assert app.url_for("Users.by_id", id=12) == "/users/12"
    assert app.url_for("replace", id=3) == "/users/3"
    assert app.url_for("Users.post", id=1, post=value) == f"/users/1/posts/{value}"
    assert app.url_for("Users.files", id=1, rest="a b/c") == "/users/1/files/a%20b/c"
    assert app.url_for("Users.by_name", name="a b") == "/users/a%20b"
    with pytest.raises(URLBuildError, match="no endpoint"):
        app.url_for("missing")
    with pytest.raises(URLBuildError, match="takes parameters"):
        app.url_for("Users.by_id")
    with pytest.raises(URLBuildError, match="does not fit"):
        app.url_for("Users.by_id", id="x")


def test_url_for_refuses_values_the_router_would_not_match() -> None:
    app = App()
    app.add_blueprint(Users())
    with pytest.raises(URLBuildError, match="holds a '/'"):
        app.url_for("Users.by_name", name="a/b")
    with pytest.raises(URLBuildError, match="does not fit"):
        app.url_for("Users.files", id=1, rest="a/../b")
    for dots in (".", ".."):
        with pytest.raises(URLBuildError, match="dot segment"):
            app.url_for("Users.by_name", name=dots)


@given(
    st.text(min_size=1).filter(
        lambda text: "\x00" not in text and "/" not in text and text not in (".", "..")
    )
)
def test_url_for_round_trips_through_the_router(name: str) -> None:
    app = App()
    app.add_blueprint(Root())
    path = app.url_for("Root.edit", item=name)
    response = TestClient(app).get(path)
    assert response.text == f"edit {name}"


# -- the trie against a brute-force reference ----------------------------------------------------------

_SEGMENT = st.sampled_from(["a", "b", "1", "{int}", "{str}", "{path}"])


def _reference(routes: list[tuple[str, ...]], path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The matching route whose segments rank lowest, left to right: literal < int < str < path."""

    def ranks(route: tuple[str, ...]) -> tuple[int, ...] | None:
        found: list[int] = []
        for position, pattern in enumerate(route):
            if pattern == "{path}":
                return (*found, 3) if position < len(path) else None
            if position >= len(path):
                return None
            text = path[position]
            if pattern == "{int}" and text.isdigit():
                found.append(1)
            elif pattern == "{str}":
                found.append(2)
            elif pattern == text:
                found.append(0)
            else:
                return None
        return tuple(found) if len(route) == len(path) else None

    candidates = [(key, route) for route in routes if (key := ranks(route)) is not None]
    return min(candidates)[1] if candidates else None


@given(
    st.lists(
        st.lists(_SEGMENT, min_size=1, max_size=3)
        .map(tuple)
        .filter(lambda route: "{path}" not in route[:-1]),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    st.lists(st.sampled_from(["a", "b", "1", "22", "zz"]), min_size=1, max_size=3).map(tuple),
)
def test_router_picks_what_the_reference_picks(routes: list[tuple[str, ...]], path: tuple[str, ...]) -> None:
    router: Router[int] = Router()
    for number, route in enumerate(routes):
        kinds = {"{int}": ":int", "{str}": "", "{path}": ":path"}
        texts = [
            f"{{p{index}{kinds[segment]}}}" if segment in kinds else segment
            for index, segment in enumerate(route)
        ]
        pattern = "/" + "/".join(texts)
        router.add(pattern, compile_pattern(pattern, {}), ["GET"], number, str(number))
    match = router.match("/" + "/".join(path), "GET")
    found = None if match is None else routes[match[0].endpoints["GET"]]
    assert found == _reference(routes, path)


@pytest.mark.parametrize("segment", ["..", ".", "%2e%2e", ".%2E", "%2E"])
@pytest.mark.parametrize("pattern", ["/avatars/{name}/image", "/avatars/{name:string}/image"])
def test_a_single_segment_parameter_never_takes_a_dot_segment(pattern: str, segment: str) -> None:
    # avatars / name / "image.png" with name ".." would read the parent of avatars.
    async def image(name: str) -> str:
        return name

    app = App()
    app.add_endpoint(pattern, image)
    client = TestClient(app)
    assert client.get("/avatars/ada/image").status_code == 200
    assert client.get(f"/avatars/{segment}/image").status_code == 404


def test_a_literal_dot_segment_and_a_second_parameter_edge_still_match() -> None:
    async def literal() -> str:
        return "literal"

    async def number(n: int) -> str:
        return f"int {n}"

    async def text(name: str) -> str:
        return f"text {name}"

    app = App()
    app.add_endpoint("/a/../b", literal)
    app.add_endpoint("/n/{n:int}", number)
    app.add_endpoint("/n/{name}", text)
    client = TestClient(app)
    assert client.get("/a/../b").text == "literal"
    assert client.get("/n/7").text == "int 7"
    assert client.get("/n/x").text == "text x"
    assert client.get("/n/..").status_code == 404
