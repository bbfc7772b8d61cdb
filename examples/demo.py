"""A tour of pyre-framework: ``python -m pyre.server examples.demo:app`` from the repository root
(or ``nox -s demo``, ``nox -s demo -- --port 9000``).  ``/`` lists what there is.

The write-up's seed blueprint (``examples/seed.py``) is loaded as an extension;
the blueprints below add typed path parameters, query injection, a validated
JSON body, a file sent with sendfile, a streamed response, server-sent events,
and the OpenAPI document at ``/openapi.json``.  Try::

    curl localhost:8000/hello/Ada
    curl -X POST localhost:8000/hello/Ada -d '{"age": 36}'
    curl localhost:8000/users/1
    curl 'localhost:8000/users?min_age=40&limit=5'
    curl -X POST localhost:8000/users -d '{"name": "Grace", "age": 85}'
    curl -r 0-99 localhost:8000/source/demo
    curl -N localhost:8000/count/5
    curl -N 'localhost:8000/ticks?count=3&interval=0.5'
    curl localhost:8000/openapi.json
"""

from __future__ import annotations

import asyncio
import html
import itertools
import pathlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import annotated_types
import pydantic

from pyre import framework
from pyre.framework import App, HTTPException, responses
from pyre.framework.middleware.requestid import RequestIDMiddleware

HERE = pathlib.Path(__file__).parent


class NewUser(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1, max_length=100)
    age: int = pydantic.Field(ge=0, le=150)


class User(NewUser):
    id: int


class Users(framework.Blueprint):
    """Users kept in memory, filled again at every startup."""

    prefix = "/users"

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.users: dict[int, User] = {}
        self.ids = itertools.count(1)

    @framework.on_startup
    def fill(self) -> None:
        self.ids = itertools.count(1)
        self.users = {}
        for name, age in (("Ada", 36), ("Alan", 41), ("Grace", 85)):
            user_id = next(self.ids)
            self.users[user_id] = User(id=user_id, name=name, age=age)

    @framework.endpoint("/{id:int}", methods=["GET"])
    async def get_user(self, id: int) -> User:
        """One user; ``/users/abc`` does not match the route at all (404)."""
        user = self.users.get(id)
        if user is None:
            raise HTTPException(404, f"there is no user {id}")
        return user

    @framework.endpoint("", methods=["GET"])
    async def list_users(
        self,
        limit: Annotated[int, annotated_types.Interval(ge=1, le=100)] = 10,
        min_age: int = 0,
        name: list[str] | None = None,
    ) -> list[User]:
        """Users filtered by the query string: ``?min_age=40&name=Ada&name=Alan&limit=5``."""
        found = [
            user
            for user in self.users.values()
            if user.age >= min_age and (name is None or user.name in name)
        ]
        return found[:limit]

    @framework.endpoint("", methods=["POST"])
    async def create_user(self, new: NewUser) -> tuple[User, int, dict[str, str]]:
        """Create a user from a JSON (or form) body; invalid fields are a 422."""
        user_id = next(self.ids)
        user = self.users[user_id] = User(id=user_id, **new.model_dump())
        return user, 201, {"location": self.app.url_for("Users.get_user", id=user_id)}


class Streams(framework.Blueprint):
    """Responses that are not one block of bytes."""

    @framework.endpoint("/source/{name:slug}", methods=["GET"])
    async def source(self, name: str) -> responses.FileResponse:
        """An example's source, sent with sendfile; ``Range`` and ``If-None-Match`` work."""
        path = HERE / f"{name}.py"
        if not path.is_file():
            raise HTTPException(404, f"there is no example {name!r}")
        return responses.FileResponse(path, media_type="text/plain")

    @framework.endpoint("/count/{n:int(min=1,max=1000)}", methods=["GET"])
    async def count(self, n: int) -> responses.StreamingResponse:
        """The numbers 1 to ``n``, one line each, streamed."""

        async def lines() -> AsyncIterator[str]:
            for number in range(1, n + 1):
                yield f"{number}\n"

        return responses.StreamingResponse(lines(), media_type="text/plain")

    @framework.endpoint("/ticks", methods=["GET"])
    async def ticks(
        self,
        count: Annotated[int, annotated_types.Interval(ge=1, le=100)] = 5,
        interval: Annotated[float, annotated_types.Interval(ge=0, le=10)] = 1.0,
    ) -> responses.EventSourceResponse:
        """``count`` server-sent events, ``interval`` seconds apart."""

        async def events() -> AsyncIterator[responses.ServerSentEvent]:
            for tick in range(1, count + 1):
                if tick > 1:
                    await asyncio.sleep(interval)
                yield responses.ServerSentEvent(data={"tick": tick}, event="tick", id=str(tick))

        return responses.EventSourceResponse(events())


# What the index page links to: (example URL, what it shows).  Endpoints that need a
# request body are shown as the curl command that sends one.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("/hello/Ada", 'the seed extension\'s greeting (POST it {"age": 36} too)'),
    ("/users", 'users kept in memory (POST {"name": ..., "age": ...} adds one)'),
    ("/users?min_age=40&limit=5", "query parameters, typed and checked (try limit=0: 422)"),
    ("/users/1", "a typed path parameter (/users/abc does not match: 404)"),
    ("/source/demo", "this file, sent with sendfile (Range and If-None-Match work)"),
    ("/count/5", "a streamed response"),
    ("/ticks?count=3&interval=0.5", "server-sent events"),
    ("/openapi.json", "the OpenAPI document"),
)


class Index(framework.Blueprint):
    """``/``: a page that links to every example."""

    @framework.endpoint("/", methods=["GET"], include_in_schema=False)
    async def index(self) -> responses.HTMLResponse:
        items = "\n".join(
            f'<li><a href="{html.escape(url)}">{html.escape(url)}</a>: {html.escape(text)}</li>'
            for url, text in EXAMPLES
        )
        page = (
            "<!doctype html>\n<html lang=en><meta charset=utf-8><title>Pyre demo</title>\n"
            f"<h1>Pyre demo</h1>\n<p>pyre-framework on pyre-server. Try:</p>\n<ul>\n{items}\n</ul>\n"
        )
        return responses.HTMLResponse(page)


def create_app() -> App[Any]:
    """A new demo application (tests make one each; the server imports ``app``)."""
    demo = App(openapi_url="/openapi.json", title="Pyre demo", middleware=[RequestIDMiddleware()])
    demo.load_extension("examples.seed")
    demo.add_blueprint(Users(demo))
    demo.add_blueprint(Streams())
    demo.add_blueprint(Index())
    return demo


app = create_app()
