"""`--validate-responses` on every path: each answer, and each event of a stream, checked against the spec.

connexion validates the responses of its own path only, and not event by event. This wraps the
one function every completion request reaches, from the fast path and from connexion alike
(`Front.handle`): the engine's answers, the gateway's relayed ones and scenario answers all pass
through it. A violation is loud: logged, and answered as a 500 `invalid_response` whose message
names the field (in a stream, as an error event in place of the event that broke the contract).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import jsonschema
import orjson
from starlette.responses import Response, StreamingResponse

from portkey_completions.core import spec, sse, untrusted

from .errors import ServerAPIError

logger = logging.getLogger(__name__)

Handle = Callable[[Mapping[str, str], dict[str, Any]], Awaitable[Response]]


def checked(handle: Handle, path: str, method: str) -> Handle:
    """`handle`, with every answer checked against the operation's responses in the spec."""

    async def checking(headers: Mapping[str, str], body: dict[str, Any]) -> Response:
        response = await handle(headers, body)
        media_type = (response.media_type or response.headers.get("content-type", "")).split(";")[0].strip()
        schema = _validator(path, method, response.status_code, media_type)
        if schema is None:
            return response
        if isinstance(response, StreamingResponse):
            response.body_iterator = _events(response.body_iterator, schema, path)
            return response
        try:
            data = untrusted.loads(bytes(response.body))
        except ValueError:
            return _violation(path, "the body is not JSON")
        problem = spec.violation(schema, data)
        return response if problem is None else _violation(path, problem)

    return checking


async def _events(events: AsyncIterable[Any], schema: jsonschema.Draft4Validator, path: str) -> AsyncIterator[Any]:
    async for event in events:
        raw = bytes(event) if isinstance(event, bytes | memoryview) else str(event).encode()
        data = sse.data(raw)
        if data is not None and data != "[DONE]":
            try:
                chunk = untrusted.loads(data)
            except ValueError:
                chunk = None
            problem = "the event is not JSON" if chunk is None else spec.violation(schema, chunk)
            if problem is not None:
                yield sse.event(orjson.dumps(_error(path, f"a stream event: {problem}").body()))
                return
        yield event


def _violation(path: str, problem: str) -> Response:
    return _error(path, problem).response()


def _error(path: str, problem: str) -> ServerAPIError:
    logger.error("response to %s breaks the spec: %s", path, problem)
    message = f"The server's answer breaks the spec (--validate-responses): {problem}"
    return ServerAPIError(500, message, code="invalid_response")


@functools.cache
def _validator(path: str, method: str, status: int, media_type: str) -> jsonschema.Draft4Validator | None:
    schema = spec.response_schemas(path, method, status).get(media_type)
    return None if schema is None else jsonschema.Draft4Validator(schema)
