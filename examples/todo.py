"""A todo service: sessions, injection with cleanup, background tasks, WebSocket, static files."""

from collections.abc import AsyncIterator

from pydantic import BaseModel

from pyre import framework
from pyre.framework import App, BackgroundTasks, Depends, HTTPException, Request, WebSocket
from pyre.framework.middleware import SessionMiddleware
from pyre.framework.staticfiles import StaticFiles


class TodoIn(BaseModel):
    title: str


class Todo(TodoIn):
    id: int
    done: bool = False


class Store:
    def __init__(self) -> None:
        self.todos: dict[int, Todo] = {}
        self.log: list[str] = []


async def transaction(request: Request) -> AsyncIterator[Store]:
    store: Store = request.app.state.store
    store.log.append("begin")
    yield store
    store.log.append("end")


def current_user(request: Request) -> str:
    user = request.session.get("user")
    if user is None:
        raise HTTPException(401)
    return user


class Todos(framework.Blueprint):
    @framework.endpoint("/login/{name}", methods=["POST"])
    async def login(self, request: Request, name: str) -> dict[str, str]:
        request.session["user"] = name
        return {"user": name}

    @framework.endpoint("/todos", methods=["POST"], status=201)
    async def create(
        self,
        todo: TodoIn,
        tasks: BackgroundTasks,
        store: Store = Depends(transaction),
        user: str = Depends(current_user),
    ) -> Todo:
        item = Todo(id=len(store.todos) + 1, title=todo.title)
        store.todos[item.id] = item
        tasks.add(store.log.append, f"created {item.id} by {user}")
        return item

    @framework.endpoint("/todos/{id:int}", methods=["GET"])
    async def get(self, id: int, store: Store = Depends(transaction)) -> Todo:
        if id not in store.todos:
            raise HTTPException(404)
        return store.todos[id]

    @framework.websocket("/ws/echo")
    async def echo(self, ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message.upper())


app = App(openapi_url="/openapi.json", docs_url="/docs")
app.state.store = Store()
app.add_middleware(SessionMiddleware(secret_key="change-me"))
app.add_blueprint(Todos())
app.mount("/static", StaticFiles(directory="static"))
