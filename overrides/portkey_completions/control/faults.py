"""A scenario's effect on a stream: time to first token, tokens per second, and injected faults."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator

from portkey_completions.call.shape import Hangup
from portkey_completions.core import sse

from .rules import Rule

MID_STREAM_MESSAGE = "The server had an error while processing your request (scenario)."
# Not JSON: an event a client's parser must refuse.
MALFORMED = sse.event(b'{"id": "cmpl-malformed", "object": "text_completion", "choices": [')


class Disconnect(Hangup):
    """Raised inside a stream to drop the connection, as a scenario asked (the server's outermost layer ends it)."""


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
