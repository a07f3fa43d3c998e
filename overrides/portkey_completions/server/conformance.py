"""`--validate-responses` on every path: each answer, and each event of a stream, checked against the spec.

connexion validates the responses of its own path only, and not event by event. This wraps the
one function every completion request reaches, from the fast path and from connexion alike
(`control.front.Front.handle`, given the call record): the engine's answers, the gateway's
relayed ones and scenario answers all pass through it. A violation is loud: logged, and answered
as a 500 `invalid_response` whose message names the field (in a stream, as an error event in
place of the event that broke the contract).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import jsonschema
import orjson
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import Call, Outcome
from portkey_completions.core import spec, sse, untrusted

from .errors import invalid_response

logger = logging.getLogger(__name__)

Handle = Callable[[Call], Awaitable[Outcome]]


def checked(handle: Handle, path: str, method: str) -> Handle:
    """`handle`, with every answer checked against the operation's responses in the spec."""

    async def checking(call: Call) -> Outcome:
        outcome = await handle(call)
        checked = _checked(outcome.response, call, outcome)
        return outcome if checked is outcome.response else outcome._replace(response=checked)

    def _checked(response: Response, call: Call, outcome: Outcome) -> Response:
        # The headers as they will leave: Portkey's are written at the door, from the call and its outcome.
        raw = stamped(response.raw_headers, call, outcome.routed)
        problem = _headers_problem(path, method, response.status_code, Headers(raw=raw))
        if problem is not None:
            return _violation(path, problem)
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
    return invalid_response(f"{path}: {problem}")


def _headers_problem(path: str, method: str, status: int, headers: Headers) -> str | None:
    """What the answer's status and headers break: an undeclared success status, a declared header missing or wrong."""
    declared = spec.response(path, method, status)
    if declared is None:
        return f"status {status} is not among the operation's responses" if status < 400 else None
    for name, (required, checker) in _declared_headers(path, method, status).items():
        value = headers.get(name)
        if value is None:
            if required:
                return f"the response header {name} is required and missing"
        elif checker is not None and (problem := spec.violation(checker, value)) is not None:
            return f"the response header {name}: {problem}"
    return None


@functools.cache
def _declared_headers(path: str, method: str, status: int) -> dict[str, tuple[bool, jsonschema.Draft4Validator | None]]:
    return {
        name: (
            bool(header.get("required")),
            jsonschema.Draft4Validator(header["schema"]) if "schema" in header else None,
        )
        for name, header in spec.response_headers(path, method, status).items()
    }


@functools.cache
def _validator(path: str, method: str, status: int, media_type: str) -> jsonschema.Draft4Validator | None:
    schema = spec.response_schemas(path, method, status).get(media_type)
    return None if schema is None else jsonschema.Draft4Validator(schema)
