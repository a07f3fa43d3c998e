"""The built-in `stub` provider: a request body in, the engine's completion or SSE stream out.

`plan` resolves the body, `render` writes it; a scenario's shape (`call.shape.Shape`), when control
set one, fixes the text or paces the stream.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from portkey_completions.call.shape import Shape
from portkey_completions.core import sse
from portkey_completions.engine.engine import Engine
from portkey_completions.observe.metrics import Tokens

from .plan import Plan
from .render import complete, stream

# Up to this many tokens a completion is generated on the event loop (well under a millisecond);
# a thread hop would cost more than the work. Larger ones go to a worker thread.
INLINE_TOKENS = 256


class Stub:
    """The engine as a provider: what a leaf of a config tree without a base URL is answered by."""

    def __init__(self, engine: Engine, *, tokens: Tokens, draining: threading.Event) -> None:
        self.engine = engine
        self.tokens = tokens  # the usage answered, counted
        self.draining = draining  # set on a shutdown signal: a stream ends with `shutting_down`

    async def answer(self, body: dict[str, Any], shape: Shape | None = None) -> Response:
        """The engine's answer to a validated request body, shaped as `shape` asks."""
        plan = Plan.from_body(body, self.engine, None if shape is None else shape.text)
        if plan.request.stream:
            events = stream(plan, self.tokens, self.draining)
            if shape is not None and shape.pace is not None:
                events = shape.pace(events)
            return StreamingResponse(events, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
        if plan.tokens <= INLINE_TOKENS:
            response = complete(plan, self.tokens)
        else:
            # Long generations are CPU work: off the event loop, so other connections are served meanwhile.
            response = await run_in_threadpool(complete, plan, self.tokens)
        return Response(orjson.dumps(response), media_type="application/json")
