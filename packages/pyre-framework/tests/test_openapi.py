"""The OpenAPI 3.1 document: opt-in, built from routes, converters and models."""

from __future__ import annotations

from typing import Annotated

import annotated_types
import pydantic

from pyre import framework
from pyre.framework import App, Header, Query
from pyre.framework.testing import TestClient


class Item(pydantic.BaseModel):
    name: str
    price: float


class Owner(pydantic.BaseModel):
    item: Item


class Catalog(framework.Blueprint):
    prefix = "/items"

    @framework.endpoint("/{id:int(min=1)}")
    async def get_item(self, id: int, fields: list[str] | None = None) -> Item:
        """Get one item.

        Looks it up by its number.
        """
        return Item(name=str(id), price=1.0)

    @framework.endpoint("/", methods=["POST"])
    async def create(
        self,
        owner: Owner,
        x_trace: Annotated[str | None, Header()] = None,
        limit: Annotated[int, Query(), annotated_types.Le(50)] = 10,
    ) -> dict[str, str]:
        return {}

    @framework.endpoint("/hidden", include_in_schema=False)
    async def hidden(self) -> str:
        return ""


def test_not_served_unless_asked() -> None:
    app = App()
    app.add_blueprint(Catalog())
    assert TestClient(app).get("/openapi.json").status_code == 404


def test_document() -> None:
    app = App(openapi_url="/openapi.json", title="Shop", version="2.0")
    app.add_blueprint(Catalog())
    document = TestClient(app).get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Shop", "version": "2.0"}
    assert set(document["paths"]) == {"/items/{id}", "/items/"}

    get = document["paths"]["/items/{id}"]["get"]
    assert get["operationId"] == "Catalog.get_item"
    assert get["summary"] == "Get one item."
    assert get["description"] == "Looks it up by its number."
    assert get["tags"] == ["Catalog"]
    assert get["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
        {
            "name": "fields",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string", "minLength": 0}},
        },
    ]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }

    post = document["paths"]["/items/"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Owner"
    }
    assert {
        "name": "x-trace",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 0},
    } in post["parameters"]
    limit = next(parameter for parameter in post["parameters"] if parameter["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "maximum": 50, "default": 10}
    assert "422" in post["responses"]

    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Item", "Owner"}
    assert schemas["Owner"]["properties"]["item"] == {"$ref": "#/components/schemas/Item"}


def test_document_follows_changes() -> None:
    app = App(openapi_url="/openapi.json")
    client = TestClient(app)
    assert client.get("/openapi.json").json()["paths"] == {}
    app.add_blueprint(Catalog())
    assert "/items/{id}" in client.get("/openapi.json").json()["paths"]


def test_tuple_return_is_described_by_its_body() -> None:
    class Created(framework.Blueprint):
        @framework.endpoint("/made", methods=["POST"])
        async def made(self) -> tuple[Item, int]:
            return Item(name="n", price=1.0), 201

        @framework.endpoint("/made-with-headers", methods=["POST"])
        async def made_with_headers(self) -> tuple[str, int, dict[str, str]]:
            return "made", 201, {"location": "/made"}

    app = App()
    app.add_blueprint(Created())
    paths = app.openapi()["paths"]
    assert paths["/made"]["post"]["responses"]["200"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
    }
    assert paths["/made-with-headers"]["post"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
