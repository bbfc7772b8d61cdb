"""The OpenAPI 3.1 document: opt-in, built from routes, converters and models."""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types
import pydantic
import pytest

from pyre import framework
from pyre.framework import App, Header, HTTPException, Query, responses
from pyre.framework.openapi import SWAGGER_UI_CSS, SWAGGER_UI_JS
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


# -- endpoint options and the codes each operation documents ----------------------------------------------


class Todo(pydantic.BaseModel):
    id: int
    title: str


class Todos(framework.Blueprint):
    @framework.endpoint(
        "/todos", methods=["POST"], status=201, responses={401: {"description": "No session"}}
    )
    async def create(self, todo: Item) -> Todo:
        return Todo(id=1, title=todo.name)

    @framework.endpoint("/todos/{id:int}", security=[{"session": []}])
    async def get(self, id: int) -> Todo:
        """Get one todo."""
        return Todo(id=id, title="t")

    @framework.endpoint("/todos/{id:int}", methods=["DELETE"], name="Todos.delete")
    async def delete(self, id: int) -> None:
        return None

    @framework.endpoint("/tags/{name}", response_model=list[Todo], tags=["search"], deprecated=True)
    async def by_tag(self, name: str) -> Any:
        """The docstring's summary.

        And its description.
        """
        return []

    @framework.endpoint("/described", summary="Given summary", description="Given description")
    async def described(self) -> str:
        """Docstring summary."""
        return ""

    @framework.endpoint(
        "/teapot", responses={418: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
    )
    async def teapot(self) -> str:
        return ""

    @framework.endpoint("/overridden/{id:int}", responses={404: {"description": "No such todo"}})
    async def overridden(self, id: int) -> str:
        return ""


def todo_document(**options: Any) -> dict[str, Any]:
    app = App(openapi_url="/openapi.json", **options)
    app.add_blueprint(Todos())
    document: dict[str, Any] = TestClient(app).get("/openapi.json").json()
    return document


def test_the_declared_status_with_the_models_schema_and_every_code_that_can_happen() -> None:
    paths = todo_document()["paths"]
    create = paths["/todos"]["post"]
    assert list(create["responses"]) == ["201", "401", "422"]
    assert create["responses"]["201"] == {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Todo"}}},
    }
    assert create["responses"]["401"] == {"description": "No session"}
    get = paths["/todos/{id}"]["get"]
    assert list(get["responses"]) == ["200", "404"]  # {id:int} refuses "x": the route does not match
    assert get["responses"]["404"] == {"description": "Not Found"}
    assert paths["/todos/{id}"]["delete"]["responses"] == {
        "204": {"description": "Successful Response"},
        "404": {"description": "Not Found"},
    }
    # A plain {name} takes any segment: no 404 of its own.
    assert list(paths["/tags/{name}"]["get"]["responses"]) == ["200"]


def test_response_model_tags_deprecated_summary_and_description() -> None:
    paths = todo_document()["paths"]
    by_tag = paths["/tags/{name}"]["get"]
    assert by_tag["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Todo"},
    }
    assert by_tag["tags"] == ["search"]
    assert by_tag["deprecated"] is True
    assert (by_tag["summary"], by_tag["description"]) == ("The docstring's summary.", "And its description.")
    described = paths["/described"]["get"]
    assert (described["summary"], described["description"]) == ("Given summary", "Given description")
    assert described["tags"] == ["Todos"]
    assert "deprecated" not in described


def test_declared_responses_get_a_description_and_override_the_computed_ones() -> None:
    paths = todo_document()["paths"]
    assert paths["/teapot"]["get"]["responses"]["418"] == {
        "description": "I'm a Teapot",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    assert paths["/overridden/{id}"]["get"]["responses"]["404"] == {"description": "No such todo"}


def test_security_schemes_and_requirements() -> None:
    bearer = {"type": "http", "scheme": "bearer"}
    document = todo_document(security_schemes={"bearer": bearer})
    assert document["components"]["securitySchemes"] == {"bearer": bearer}
    assert document["paths"]["/todos/{id}"]["get"]["security"] == [{"session": []}]
    assert "security" not in document["paths"]["/todos"]["post"]
    assert "securitySchemes" not in todo_document().get("components", {})


def test_the_session_middleware_is_an_api_key_in_its_cookie() -> None:
    from pyre.framework.middleware import SessionMiddleware

    app = App(openapi_url="/openapi.json")
    app.add_middleware(SessionMiddleware(secret_key="k" * 32, cookie_name="sid"))
    assert app.openapi()["components"]["securitySchemes"] == {
        "session": {"type": "apiKey", "in": "cookie", "name": "sid"}
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status": 99}, "status must be an int from 200 to 599"),
        ({"status": "201"}, "status must be an int"),
        ({"responses": {"4xx": {}}}, "status codes from 100 to 599"),
    ],
)
def test_options_are_checked_when_declared(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        framework.endpoint("/x", **options)


# -- status= at run time ------------------------------------------------------------------------------------


def test_status_is_the_status_of_a_coerced_result_only() -> None:
    class Made(framework.Blueprint):
        @framework.endpoint("/model", methods=["POST"], status=201)
        async def model(self) -> Todo:
            return Todo(id=1, title="t")

        @framework.endpoint("/sync", methods=["POST"], status=202)
        def sync(self, request: framework.Request) -> str:
            return "accepted"

        @framework.endpoint("/none", methods=["POST"], status=201)
        async def none(self) -> None:
            return None

        @framework.endpoint("/response", methods=["POST"], status=201)
        async def response(self) -> responses.Response:
            return responses.TextResponse("own", status=200)

        @framework.endpoint("/tuple", methods=["POST"], status=201)
        async def tuple_(self) -> tuple[str, int]:
            return "own", 409

    app = App()
    app.add_blueprint(Made())
    client = TestClient(app)
    answer = client.post("/model")
    assert (answer.status_code, answer.json()) == (201, {"id": 1, "title": "t"})
    assert client.post("/sync").status_code == 202
    assert (client.post("/none").status_code, client.post("/none").content) == (201, b"")
    assert client.post("/response").status_code == 200
    assert client.post("/tuple").status_code == 409


# -- the /docs page -----------------------------------------------------------------------------------------


def test_the_docs_page_renders_the_document_with_swagger_ui_from_a_pinned_cdn() -> None:
    app = App(openapi_url="/openapi.json", docs_url="/docs", title="Todo <API>")
    answer = TestClient(app).get("/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert 'url: "/openapi.json"' in page
    assert f'src="{SWAGGER_UI_JS}"' in page
    assert f'href="{SWAGGER_UI_CSS}"' in page
    assert SWAGGER_UI_JS.startswith("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.")
    assert "<title>Todo &lt;API&gt; - API docs</title>" in page
    assert set(app.openapi()["paths"]) == set()  # neither page is an operation of the API


def test_the_docs_assets_can_be_served_from_elsewhere() -> None:
    app = App(
        openapi_url="/schema",
        docs_url="/api-docs",
        docs_js_url="/assets/ui.js",
        docs_css_url="/assets/ui.css",
    )
    page = TestClient(app).get("/api-docs").text
    assert 'src="/assets/ui.js"' in page
    assert 'href="/assets/ui.css"' in page
    assert 'url: "/schema"' in page
    assert "jsdelivr" not in page


def test_a_mounted_apps_docs_page_fetches_the_document_under_the_prefix() -> None:
    api = App(openapi_url="/openapi.json", docs_url="/docs")
    app = App()
    app.mount("/api", api)
    client = TestClient(app)
    assert 'url: "/api/openapi.json"' in client.get("/api/docs").text
    assert client.get("/api/openapi.json").json()["openapi"] == "3.1.0"


def test_the_docs_page_needs_the_document() -> None:
    with pytest.raises(ValueError, match="docs_url needs an openapi_url"):
        App(docs_url="/docs")
    assert TestClient(App(openapi_url="/openapi.json")).get("/docs").status_code == 404


# -- statuses raised by the handler and its providers --------------------------------------------------------


def current_user(request: framework.Request) -> str:
    user = request.headers.get("x-user")
    if user is None:
        raise framework.HTTPException(401)
    return user


def admin(user: str = framework.Depends(current_user)) -> str:
    if user != "root":
        raise HTTPException(403, "admins only")
    if user == "locked":
        raise framework.HTTPException(status=423, detail="locked")
    return user


class Guarded(framework.Blueprint):
    @framework.endpoint("/todos", methods=["POST"], status=201)
    async def create(self, todo: Item, user: str = framework.Depends(current_user)) -> Todo:
        return Todo(id=1, title=todo.name)

    @framework.endpoint("/todos/{id:int}")
    async def get(self, id: int) -> Todo:
        if id != 1:
            raise HTTPException(404)
        return Todo(id=id, title="t")

    @framework.endpoint("/admin", methods=["DELETE"])
    async def wipe(self, user: str = framework.Depends(admin)) -> None:
        status = 409
        if user == "nobody":
            raise HTTPException(status)  # held in a variable: not seen

    @framework.endpoint("/teapot", responses={401: {"description": "Say please"}})
    async def teapot(self, user: str = framework.Depends(current_user)) -> str:
        return user


def test_statuses_the_handler_and_its_providers_raise_are_documented() -> None:
    app = App(openapi_url="/openapi.json")
    app.add_blueprint(Guarded())
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    create = paths["/todos"]["post"]["responses"]
    assert list(create) == ["201", "401", "422"]
    assert create["401"] == {"description": "Unauthorized"}
    assert create["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Todo"}
    assert list(paths["/todos/{id}"]["get"]["responses"]) == ["200", "404"]
    # Nested: admin raises 403 and depends on current_user, which raises 401.
    assert list(paths["/admin"]["delete"]["responses"]) == ["204", "401", "403", "423"]
    assert paths["/teapot"]["get"]["responses"]["401"] == {"description": "Say please"}


def test_a_handler_without_source_documents_what_it_can() -> None:
    namespace: dict[str, Any] = {}
    # Compiled from a string: inspect.getsource has no file to read it from.
    compiled = compile("async def answer(id: int) -> str:\n    raise HTTPException(410)\n", "<made>", "exec")
    eval(compiled, {"HTTPException": HTTPException}, namespace)
    app = App()
    app.add_endpoint("/made/{id:int}", namespace["answer"])
    app.add_endpoint("/lambda", lambda: "x")
    paths = app.openapi()["paths"]
    assert list(paths["/made/{id}"]["get"]["responses"]) == ["200", "404"]
    assert list(paths["/lambda"]["get"]["responses"]) == ["200"]
