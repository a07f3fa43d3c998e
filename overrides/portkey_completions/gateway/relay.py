"""An upstream's stream passed on to the caller: whole events as they complete, and a clear end.

The bytes pass through unchanged, each event as soon as its closing blank line arrives; only a
partial event waits, and never longer than the rest of itself. That much framing is what makes a
failure reportable. When the upstream goes wrong part-way, the caller gets everything whole that
came before, then one OpenAI-shaped error event instead of a cut connection or a silent end:

- the connection breaks, or nothing arrives for the read timeout: `upstream_error` /
  `upstream_timeout` (the partial event, if any, is dropped: half a JSON chunk helps nobody);
- an event whose data is not JSON (or `[DONE]`): `upstream_malformed`, in its place;
- the stream ends without `data: [DONE]`: `upstream_incomplete`, since a client would otherwise
  take the truncated answer for the whole one;
- this server begins to shut down (SIGTERM): `server_shutting_down`, as the engine's streams do.

With `validate`, each chunk is also checked against the spec; a violation can only be logged,
because the status has already gone.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator

import httpcore
import orjson

from portkey_completions.call.errors import ServerAPIError, shutting_down
from portkey_completions.core import spec, sse, untrusted
from portkey_completions.observe.metrics import Tokens

from .pool import TRANSPORT_ERRORS

logger = logging.getLogger(__name__)

# A line end followed by an empty line: where an event ends (WHATWG: CRLF, LF or CR). A CR at
# the very end of what has arrived may be the first half of a CRLF, so it waits.
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")


async def relay(
    response: httpcore.Response,
    provider: str,
    *,
    validate: bool,
    tokens: Tokens,
    draining: threading.Event,
    model: object = None,
) -> AsyncIterator[bytes]:
    """The upstream's events, each passed on whole, then an error event if it went wrong or `draining` is set."""
    pending = b""
    done = False
    try:
        async for chunk in response.aiter_stream():
            pending += chunk
            start = 0
            for end in _ends(pending):
                if draining.is_set():
                    yield sse.event(orjson.dumps(shutting_down().body()))
                    return
                event = pending[start:end]
                start = end
                data = sse.data(event)
                if data is None:  # a comment or an id/retry-only event
                    yield event
                    continue
                if data == "[DONE]":
                    done = True
                    yield event
                    continue
                problem = _problem(data, validate)
                if problem == "not JSON":
                    yield _failure(provider, f"sent an event that is not JSON: {data[:200]!r}", "upstream_malformed")
                    return
                if problem:
                    logger.warning("upstream %s broke the contract in a stream: %s", provider, problem)
                if '"usage":' in data:
                    tokens.reported(model, data.encode())
                yield event
            pending = pending[start:]
    except httpcore.TimeoutException:
        yield _failure(provider, "stopped sending: nothing arrived within the read timeout", "upstream_timeout")
        return
    except TRANSPORT_ERRORS as exc:
        logger.warning("upstream %s broke off its stream: %s", provider, exc)
        yield _failure(provider, f"broke off its stream: {exc or type(exc).__name__}", "upstream_error")
        return
    if not done:
        yield _failure(provider, "ended its stream without data: [DONE]", "upstream_incomplete")


def _ends(buffer: bytes) -> list[int]:
    ends = [m.end() for m in _EVENT_END.finditer(buffer)]
    if ends and ends[-1] == len(buffer) and buffer.endswith(b"\r"):
        ends.pop()
    return ends


def _problem(data: str, validate: bool) -> str | None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # orjson stops at 64-bit integers; JSON does not
            chunk = untrusted.loads(data)
        except ValueError:
            return "not JSON"
    if not validate:
        return None
    name = "ErrorResponse" if isinstance(chunk, dict) and "error" in chunk else "CreateCompletionChunk"
    return spec.first_error(name, chunk)


def _failure(provider: str, what: str, code: str) -> bytes:
    status = 504 if code == "upstream_timeout" else 502
    return sse.event(orjson.dumps(ServerAPIError(status, f"The upstream {provider} {what}.", code=code).body()))
