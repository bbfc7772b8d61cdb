"""Parameter injection by annotation: every source, defaults, lists, bodies and 422s."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import annotated_types
import pydantic
import pytest

import pyre.spec
from pyre import framework
from pyre.framework import App, Body, Cookie, Header, Query, Request, RouteError
from pyre.framework.testing import TestClient


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(gt=0)
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Shop(framework.Blueprint):
    @framework.endpoint("/search")
    async def search(
        self,
        q: str,
        limit: int = 10,
        tag: list[str] | None = None,
        exact: bool = False,
        page: Annotated[int, Query(alias="p"), annotated_types.Ge(1)] = 1,
        sort: str | None = None,
    ) -> dict[str, Any]:
        return {"q": q, "limit": limit, "tag": tag, "exact": exact, "page": page, "sort": sort}

    @framework.endpoint("/ids")
    async def ids(self, id: list[int], ratio: tuple[float, ...] = ()) -> dict[str, Any]:
        return {"id": id, "ratio": list(ratio)}

    @framework.endpoint("/headers")
    async def headers(
        self,
        user_agent: Annotated[str, Header()],
        x_count: Annotated[int, Header()] = 0,
        token: Annotated[str | None, Header(alias="X-Token")] = None,
        accept: Annotated[list[str], Header()] = [],  # noqa: B006 - a default is never mutated
    ) -> dict[str, Any]:
        return {"user_agent": user_agent, "x_count": x_count, "token": token, "accept": accept}

    @framework.endpoint("/cookies")
    async def cookies(
        self, session: Annotated[str, Cookie()], visits: Annotated[int, Cookie()] = 0
    ) -> dict[str, Any]:
        return {"session": session, "visits": visits}

    @framework.endpoint("/items/{item_id:int}", methods=["PUT"])
    async def put_item(self, item_id: int, item: Item, dry_run: bool = False) -> dict[str, Any]:
        return {"item_id": item_id, "item": item.model_dump(), "dry_run": dry_run}

    @framework.endpoint("/points", methods=["POST"])
    async def post_point(self, point: Point) -> dict[str, int]:
        return {"sum": point.x + point.y}

    @framework.endpoint("/numbers", methods=["POST"])
    async def post_numbers(self, numbers: Annotated[list[int], Body()]) -> str:
        return str(sum(numbers))

    @framework.endpoint("/maybe", methods=["POST"])
    async def maybe(self, item: Item | None = None) -> str:
        return "none" if item is None else item.name

    @framework.endpoint("/request/{name}")
    async def request(self, request: Request, name: str, spec: pyre.spec.Request) -> dict[str, Any]:
        return {"name": name, "path_params": request.path_params, "same": spec is request.spec}

    @framework.endpoint("/unannotated")
    async def unannotated(self, request, q="x"):  # type: ignore[no-untyped-def]
        return {"request": type(request).__name__, "q": q}

    @framework.endpoint("/keyword/{a}")
    async def keyword(self, a: int, *, b: int = 2) -> str:
        return str(a * b)


@pytest.fixture
def client() -> TestClient:
    app = App()
    app.add_blueprint(Shop())
    return TestClient(app)


def test_query_parameters_with_defaults(client: TestClient) -> None:
    assert client.get("/search", params={"q": "lamp"}).json() == {
        "q": "lamp",
        "limit": 10,
        "tag": None,
        "exact": False,
        "page": 1,
        "sort": None,
    }
    got = client.get("/search?q=lamp&limit=3&tag=a&tag=b&exact=true&p=2&sort=price").json()
    assert got == {"q": "lamp", "limit": 3, "tag": ["a", "b"], "exact": True, "page": 2, "sort": "price"}


def test_query_list_of_ints_and_tuple(client: TestClient) -> None:
    assert client.get("/ids?id=1&id=2&ratio=0.5").json() == {"id": [1, 2], "ratio": [0.5]}


def test_every_invalid_value_is_reported_at_once(client: TestClient) -> None:
    response = client.get("/search?limit=x&p=0")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["query", "q"], "msg": "field required", "type": "missing"},
            {"loc": ["query", "limit"], "msg": "not a valid integer", "type": "value_error"},
            {"loc": ["query", "p"], "msg": "must be greater than or equal to 1", "type": "value_error"},
        ]
    }


def test_invalid_list_item_is_located_by_index(client: TestClient) -> None:
    response = client.get("/ids?id=1&id=x")
    assert response.json()["detail"] == [
        {"loc": ["query", "id", 1], "msg": "not a valid integer", "type": "value_error"}
    ]


def test_headers(client: TestClient) -> None:
    response = client.get(
        "/headers",
        headers=[
            ("User-Agent", "test/1"),
            ("X-Count", "3"),
            ("X-Token", "t"),
            ("Accept", "a"),
            ("Accept", "b"),
        ],
    )
    assert response.json() == {"user_agent": "test/1", "x_count": 3, "token": "t", "accept": ["a", "b"]}
    missing = client.get("/headers", headers={"x-count": "many"})
    assert missing.status_code == 422
    assert [error["loc"] for error in missing.json()["detail"]] == [
        ["header", "user-agent"],
        ["header", "x-count"],
    ]


def test_cookies(client: TestClient) -> None:
    response = client.get("/cookies", cookies={"session": "abc", "visits": "4"})
    assert response.json() == {"session": "abc", "visits": 4}
    assert client.get("/cookies").json()["detail"][0]["loc"] == ["cookie", "session"]


def test_pydantic_body_with_path_and_query(client: TestClient) -> None:
    response = client.put("/items/5?dry_run=1", json={"name": "lamp", "price": 9.5})
    assert response.json() == {
        "item_id": 5,
        "item": {"name": "lamp", "price": 9.5, "tags": []},
        "dry_run": True,
    }


def test_pydantic_body_errors_are_located_in_the_body(client: TestClient) -> None:
    response = client.put("/items/5", json={"price": -1})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [["body", "name"], ["body", "price"]]
    assert detail[1]["msg"] == "Input should be greater than 0"


def test_malformed_json_body_is_422(client: TestClient) -> None:
    response = client.put("/items/5", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_missing_body_is_422(client: TestClient) -> None:
    response = client.put("/items/5")
    assert response.json() == {
        "detail": [{"loc": ["body"], "msg": "a request body is required", "type": "missing"}]
    }


def test_dataclass_body(client: TestClient) -> None:
    assert client.post("/points", json={"x": 2, "y": 3}).json() == {"sum": 5}
    assert client.post("/points", json={"x": "a", "y": 3}).status_code == 422


def test_body_marker_with_any_type(client: TestClient) -> None:
    assert client.post("/numbers", json=[1, 2, 3]).text == "6"


def test_optional_body(client: TestClient) -> None:
    assert client.post("/maybe").text == "none"
    assert client.post("/maybe", json={"name": "x", "price": 1}).text == "x"


def test_form_bodies_validate_into_models(client: TestClient) -> None:
    urlencoded = client.put("/items/1", data={"name": "lamp", "price": "2", "tags": ["a", "b"]})
    assert urlencoded.json()["item"] == {"name": "lamp", "price": 2.0, "tags": ["a", "b"]}
    multipart = client.post("/points", data={"x": "1", "y": "2"}, files={"ignored": ("f.txt", b"data")})
    assert multipart.json() == {"sum": 3}


def test_request_and_spec_request(client: TestClient) -> None:
    assert client.get("/request/ada").json() == {"name": "ada", "path_params": {"name": "ada"}, "same": True}


def test_unannotated_request_and_query(client: TestClient) -> None:
    assert client.get("/unannotated?q=y").json() == {"request": "Request", "q": "y"}


def test_keyword_only_parameters(client: TestClient) -> None:
    assert client.get("/keyword/3?b=5").text == "15"


def test_only_one_body() -> None:
    class TwoBodies(framework.Blueprint):
        @framework.endpoint("/", methods=["POST"])
        async def handler(self, a: Item, b: Point) -> None: ...

    with pytest.raises(RouteError, match="only one parameter"):
        App().add_blueprint(TwoBodies())


def test_variadic_parameters_are_rejected() -> None:
    class Variadic(framework.Blueprint):
        @framework.endpoint("/")
        async def handler(self, **rest: str) -> None: ...

    with pytest.raises(RouteError, match=r"\*\*kwargs"):
        App().add_blueprint(Variadic())


def test_handlers_with_only_path_parameters_get_no_request_object() -> None:
    class Plain(framework.Blueprint):
        @framework.endpoint("/{n:int}")
        async def plain(self, n: int) -> str:
            return str(n)

    app = App()
    app.add_blueprint(Plain())
    (registration,) = app.router.registrations
    assert registration.endpoint.plan.path_only
    assert registration.endpoint.direct
