"""A FastAPI application: pydantic bodies and dependency injection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

app = FastAPI(title="pyre-asgi differential app", openapi_url=None)


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


class Pricing(BaseModel):
    name: str
    price_with_tax: float
    tags: list[str]
    page: dict[str, int]


def pagination(offset: int = 0, limit: int = 10) -> dict[str, int]:
    return {"offset": offset, "limit": limit}


def tax_rate(x_region: Annotated[str | None, Header()] = None) -> Iterator[float]:
    yield 0.25 if x_region == "eu" else 0.1


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "FastAPI on Pyre"}


@app.post("/items")
async def create_item(
    item: Item,
    page: Annotated[dict[str, int], Depends(pagination)],
    rate: Annotated[float, Depends(tax_rate)],
) -> Pricing:
    return Pricing(
        name=item.name, price_with_tax=round(item.price * (1 + rate), 2), tags=item.tags, page=page
    )


@app.get("/items/{item_id}")
def read_item(item_id: int, page: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, object]:
    if item_id == 0:
        raise HTTPException(status_code=404, detail="Item not found")
    return {"item_id": item_id, "page": page}


@app.exception_handler(Exception)
async def custom_500(request: Request, error: Exception) -> JSONResponse:
    # FastAPI hands this to ServerErrorMiddleware, which sends it and then re-raises.
    return JSONResponse({"error": "custom", "detail": str(error)}, status_code=500)


@app.get("/crash")
async def crash() -> None:
    raise RuntimeError("a bug in the endpoint")


@app.websocket("/ws")
async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"fastapi: {text}")
    except WebSocketDisconnect:
        return
