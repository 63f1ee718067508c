"""The anchors the hot path is measured against, each served by uvicorn with lrcast's settings.

- ``bare_app``: the least an ASGI app can do per request (a constant JSON body): the ceiling.
- ``fastapi_app``: the same route as lrcast's hot path, written the default FastAPI way (path
  and query parameters, a response model), answering a constant without any storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

_BODY = b'{"lr": 0.1}'


async def bare_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


class StepAnswer(BaseModel):
    run: str
    step: int
    lr: float
    values: dict[str, float]
    groups: dict[str, float]
    schedule: str
    version: int


fastapi_app = FastAPI()


@fastapi_app.get("/v1/runs/{run}/lr", response_model=StepAnswer)
async def step_lr(run: str, step: int) -> StepAnswer:
    lr = 0.1
    return StepAnswer(
        run=run,
        step=step,
        lr=lr,
        values={"lr": lr, "weight_decay": 5e-5},
        groups={"backbone": lr * 0.1},
        schedule="bench",
        version=1,
    )


@fastapi_app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
