"""The response cache (`cache: {mode: simple, max_age}`): identical requests to one target, answered once.

The gateway owns the format and the key; where entries live is the state's (`ResponseCache`,
filled in by the composition root): this process's memory, or Redis, which every worker and
replica share. A key is the digest of the namespace (`/ns/<name>/` and the
`x-portkey-cache-namespace` header), the target (provider, base URL, upstream key) and the body
as sent. Only a 200 is kept: a JSON answer as its bytes, a stream as its events once it ended
with `data: [DONE]` and no error event, replayed as a stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import orjson
from starlette.responses import Response, StreamingResponse

from portkey_completions.core import sse
from portkey_completions.observe.metrics import Tokens

MAX_ENTRY_BYTES = 1024 * 1024  # an answer larger than this is not kept
_HOP = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})


class ResponseCache(Protocol):
    """Where cached answers live (the state); a failure to reach it is a miss, never an error."""

    async def cached(self, key: str) -> bytes | None:
        """The entry under `key`, unless it expired or was never kept."""

    async def cache(self, key: str, entry: bytes, max_age: float) -> None:
        """Keep `entry` under `key` for `max_age` seconds (bounded: the oldest entries go first)."""


def key(partition: tuple[str | None, ...], target: tuple[str | None, ...], body: dict[str, Any]) -> str:
    """The cache key: the same partition, target and body give the same key, and nothing else does."""
    raw = orjson.dumps([partition, target, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


def answer(entry: bytes) -> Response:
    """A kept entry as the response to send: the same status, headers and body (a stream as a stream)."""
    data = orjson.loads(entry)
    headers = data["headers"]
    if "events" in data:

        async def replay() -> AsyncIterator[bytes]:
            for event in data["events"]:
                yield event.encode("utf-8", "surrogateescape")

        return StreamingResponse(replay(), data["status"], headers=headers)
    return Response(data["body"].encode("utf-8", "surrogateescape"), data["status"], headers=headers)


def count_usage(tokens: Tokens, model: object, entry: bytes) -> None:
    """A kept answer's usage, counted again as it is answered again (`portkey_stub_tokens_total`)."""
    data = orjson.loads(entry)
    for text in data.get("events") or [data.get("body", "")]:
        tokens.reported(model, text.encode("utf-8", "surrogateescape"))


async def keep(response: Response, store: Callable[[bytes], Awaitable[None]]) -> Response:
    """The response, to send as it is, kept (through `store`) before its last byte goes out.

    Before, so that a caller who asks again at once finds it. A JSON answer is kept now; a stream
    as its `data: [DONE]` goes out, if no error event came before it.
    """
    headers = {k: v for k, v in response.headers.items() if k not in _HOP and not k.startswith("x-portkey-")}
    if not isinstance(response, StreamingResponse):
        body = bytes(response.body)
        if len(body) <= MAX_ENTRY_BYTES:
            text = body.decode("utf-8", "surrogateescape")
            await store(orjson.dumps({"status": response.status_code, "headers": headers, "body": text}))
        return response
    events = response.body_iterator

    async def kept() -> AsyncIterator[bytes]:
        seen: list[str] = []
        size, broken = 0, False
        async for chunk in events:
            raw = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            size += len(raw)
            data = sse.all_data(raw)
            broken = broken or any(d.startswith('{"error"') for d in data)
            if size <= MAX_ENTRY_BYTES:
                seen.append(raw.decode("utf-8", "surrogateescape"))
                if "[DONE]" in data and not broken:
                    await store(orjson.dumps({"status": response.status_code, "headers": headers, "events": seen}))
            yield raw

    response.body_iterator = kept()
    return response
