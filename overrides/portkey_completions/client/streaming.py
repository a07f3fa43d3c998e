"""SSE streams of completion chunks, sync and async, over httpx-sse's WHATWG decoder.

httpx-sse does the framing (CR, LF and CRLF, also split across reads; comments; multi-line
`data`; `event`, `id`, `retry`). One gap is closed here: once an `id` has been seen, httpx-sse
dispatches an event for every blank line, data or not; WHATWG dispatches none without data, so
such events are skipped. What is ours is the completions protocol on top: `[DONE]` ends
the stream, an `error` event raises, a stream that ends without `[DONE]` raises too (it was cut),
and the response is closed on every path, including a caller who stops early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self

import httpx
from httpx_sse import EventSource, ServerSentEvent

from portkey_completions.core import untrusted
from portkey_completions_client.models import CreateCompletionChunk

from .errors import APIConnectionError, PortkeyError, from_body, from_transport

DONE = "[DONE]"


def chunk(event: ServerSentEvent) -> CreateCompletionChunk | None:
    """The chunk an event carries; None for [DONE]. Raises the typed error of an error event."""
    if event.data == DONE:
        return None
    try:
        data: Any = untrusted.loads(event.data)
    except ValueError:
        raise PortkeyError(f"a stream event that is not JSON: {event.data[:200]!r}") from None
    if isinstance(data, dict) and "error" in data:
        raise from_body(None, data)
    try:
        return CreateCompletionChunk.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PortkeyError(f"a stream event that is not a completion chunk: {event.data[:200]!r}") from exc


def _cut() -> APIConnectionError:
    return APIConnectionError("The stream ended before [DONE]: the connection was cut.")


class Stream:
    """Chunks as they arrive. Iterate it; use it as a context manager, or `close()` it, to stop early."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = EventSource(response).iter_sse()
        self._done = False

    def __iter__(self) -> Iterator[CreateCompletionChunk]:
        return self

    def __next__(self) -> CreateCompletionChunk:
        if self._done:
            raise StopIteration
        try:
            event = next(self._events, None)
            while event is not None and not event.data:
                event = next(self._events, None)
            item = _cut_or_chunk(event)
        except httpx.TransportError as exc:
            self.close()
            raise from_transport(exc, self.response.request, " during the stream") from exc
        except BaseException:
            self.close()
            raise
        if item is None:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        self._done = True
        self.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A caller that breaks out of a for loop drops the stream: close the connection then.
        if not getattr(self, "_done", True):
            self.close()


class AsyncStream:
    """The async twin of Stream: `async for`, `async with`, or `await aclose()`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = EventSource(response).aiter_sse()
        self._done = False

    def __aiter__(self) -> AsyncIterator[CreateCompletionChunk]:
        return self

    async def __anext__(self) -> CreateCompletionChunk:
        if self._done:
            raise StopAsyncIteration
        try:
            event = await anext(self._events, None)
            while event is not None and not event.data:
                event = await anext(self._events, None)
            item = _cut_or_chunk(event)
        except httpx.TransportError as exc:
            await self.aclose()
            raise from_transport(exc, self.response.request, " during the stream") from exc
        except BaseException:
            await self.aclose()
            raise
        if item is None:
            await self.aclose()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self._done = True
        await self._events.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped after an early `break`: closing needs the loop, so schedule it there.
        if getattr(self, "_done", True):
            return
        self._done = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.response.aclose())
        _closing.add(task)
        task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()


def _cut_or_chunk(event: ServerSentEvent | None) -> CreateCompletionChunk | None:
    if event is None:
        raise _cut()
    return chunk(event)
