"""A scenario's effect on a stream: time to first token, tokens per second, and injected faults."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.core import sse

from .scenarios import Rule

MID_STREAM_MESSAGE = "The server had an error while processing your request (scenario)."
# Not JSON: an event a client's parser must refuse.
MALFORMED = sse.event(b'{"id": "cmpl-malformed", "object": "text_completion", "choices": [')


class Disconnect(Exception):
    """Raised inside a stream to drop the connection, as a scenario asked."""


async def paced(events: AsyncIterator[bytes], rule: Rule) -> AsyncIterator[bytes]:
    """The stream's events, delayed and broken as the rule says."""
    sent = 0
    async for event in events:
        if rule.disconnect_after is not None and sent >= rule.disconnect_after:
            raise Disconnect(f"scenario {rule.id}: disconnect after {sent} events")
        if rule.error_after is not None and sent >= rule.error_after:
            error = rule.error_answer(rule.status or 500, MID_STREAM_MESSAGE)
            yield sse.event(json.dumps(error.body()))
            return
        if rule.malformed_after is not None and sent == rule.malformed_after:
            yield MALFORMED
            sent += 1
        if sent == 0:
            if rule.ttft:
                await asyncio.sleep(rule.ttft)
        elif rule.tokens_per_second:
            # Jitter varies the gaps between tokens; their mean stays 1 / tokens_per_second.
            await asyncio.sleep((1 + rule.jitter * (2 * random.random() - 1)) / rule.tokens_per_second)
        yield event
        sent += 1


# Set in the request's task when it ends by an injected disconnect, for the log filter below.
_planned: contextvars.ContextVar[bool] = contextvars.ContextVar("planned_disconnect", default=False)


class _PlannedDisconnects(logging.Filter):
    """uvicorn logs an ERROR for a response left unfinished; for one a scenario asked for, that is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_planned.get() and "without completing response" in record.getMessage())


_QUIET = _PlannedDisconnects()


class DisconnectMiddleware:
    """Ends the exchange where a scenario's Disconnect was raised: the response stays unfinished.

    Returning without the last body message makes the server drop the connection, which is the
    fault asked for; letting the exception travel on would only add a traceback to the log, and
    uvicorn's line about the unfinished response is filtered out for these (and only these).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if _QUIET not in uvicorn_errors.filters:
            uvicorn_errors.addFilter(_QUIET)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Disconnect:
            _planned.set(True)  # stays set in this task's context while uvicorn logs
            return
