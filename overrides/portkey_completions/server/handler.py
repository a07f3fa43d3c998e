"""The createCompletion operation bound to HTTP: a validated body in, a completion or an SSE stream out.

The body goes through the gateway's router, which may answer with the engine (`answer`, the
built-in `stub` provider): `plan` resolves it, `render` writes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from connexion import request as current_request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from portkey_completions.core import sse
from portkey_completions.engine.engine import Engine

from . import shaping
from .plan import Plan
from .render import complete, stream

Route = Callable[[Mapping[str, str], dict[str, Any]], Awaitable[Response]]

# Up to this many tokens a completion is generated on the event loop (well under a millisecond);
# a thread hop would cost more than the work. Larger ones go to a worker thread.
INLINE_TOKENS = 256


async def answer(body: dict[str, Any], engine: Engine) -> Response:
    """The engine's answer to a request body: the built-in `stub` provider, shaped as `shaping.current` asks."""
    shape = shaping.current.get()
    plan = Plan.from_body(body, engine, None if shape is None else shape.text)
    if plan.request.stream:
        events = stream(plan) if shape is None or shape.pace is None else shape.pace(stream(plan))
        return StreamingResponse(events, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
    if plan.tokens <= INLINE_TOKENS:
        response = complete(plan)
    else:
        # Long generations are CPU work: off the event loop, so other connections are served meanwhile.
        response = await run_in_threadpool(complete, plan)
    return Response(orjson.dumps(response), media_type="application/json")


def operations(route: Route) -> dict[str, Callable[..., Awaitable[Response]]]:
    """operationId -> handler. Every request goes through the gateway's router, which may answer with the engine."""

    async def create_completion(body: dict[str, Any]) -> Response:
        return await route(current_request.headers, body)

    return {"createCompletion": create_completion}
