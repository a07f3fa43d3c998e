"""Answers for the operations the spec has and the hand-written code does not: synthesized from the spec.

A spec that gains an operation regenerates into a server that serves it. connexion still applies
the operation's security and request validation, and errors keep the OpenAI shape; the answer is
the success response the spec describes:

- its example, where the spec gives one (`example`, or the first of `examples`);
- else a value built from its schema: each schema's own `example`, `default` or first `enum`
  value, else the least value its type and bounds allow, with only the required properties;
- as JSON, or for `text/event-stream` one event (built from the event's `x-contentSchema`, or its
  schema) and `data: [DONE]`.

The same operation always gets the same answer. Every such answer carries `SYNTHESIZED_HEADER`, so
a test or a user can tell it from a real one. Real behaviour for an operation is one entry in
`handler.operations`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import orjson
from starlette.responses import Response

from portkey_completions.core import sse
from portkey_completions.core.spec import METHODS, event_data

SYNTHESIZED_HEADER = "x-portkey-stub-synthesized"
MAX_DEPTH = 12  # a recursive schema stops here (with the least value of its type)

Handler = Callable[..., Awaitable[Response]]


def operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every operation of the spec: (method, path, operation)."""
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if isinstance(item.get(method), Mapping):
                yield method, path, item[method]


def handler(operation: Mapping[str, Any], spec: Mapping[str, Any]) -> Handler:
    """A handler answering `operation` with the response synthesized from the spec (built once, here)."""
    status, media_type, body = answer(operation, spec)
    headers = {SYNTHESIZED_HEADER: "true"}
    if media_type == sse.MEDIA_TYPE:
        headers.update(sse.HEADERS)

    async def synthesized(*_args: Any, **_kwargs: Any) -> Response:
        return Response(body, status, headers=headers, media_type=media_type)

    return synthesized


def answer(operation: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[int, str | None, bytes]:
    """(status, media type, body) of the operation's success response."""
    responses = operation.get("responses", {})
    codes = sorted(str(c) for c in responses if str(c).startswith("2")) or [c for c in responses if c == "default"]
    if not codes:
        return 204, None, b""
    response = _resolve(responses[codes[0]], spec)
    status = int(codes[0]) if codes[0].isdigit() else 200
    content = response.get("content") or {}
    if not content:
        return status, None, b""
    media_type = next((m for m in content if "json" in m), next(iter(content)))
    media = content[media_type] or {}
    if media_type == sse.MEDIA_TYPE:
        data = value(event_data(_resolve(media.get("schema") or {}, spec)), spec)
        event = data if isinstance(data, str) else orjson.dumps(data).decode()
        return status, media_type, sse.event(event) + sse.DONE
    example = _example(media, spec)
    data = example if example is not _NONE else value(media.get("schema") or {}, spec)
    return status, media_type, orjson.dumps(data)


_NONE = object()


def _example(media: Mapping[str, Any], spec: Mapping[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    for entry in (media.get("examples") or {}).values():
        entry = _resolve(entry, spec)
        if "value" in entry:
            return entry["value"]
    return _NONE


def value(schema: Mapping[str, Any], spec: Mapping[str, Any], depth: int = 0) -> Any:
    """A deterministic value valid against `schema` (OpenAPI 3.0's dialect)."""
    schema = _resolve(schema, spec)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        parts = [value(s, spec, depth + 1) for s in schema["allOf"]]
        merged = {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}
        return merged if merged or all(isinstance(p, dict) for p in parts) else parts[0]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return value(schema[key][0], spec, depth + 1)
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind == "object":
        properties = schema.get("properties") or {}
        if depth >= MAX_DEPTH:
            return {}
        return {name: value(properties.get(name) or {}, spec, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 0) if schema.get("maxItems", 1) != 0 else 0
        if depth >= MAX_DEPTH:
            count = 0
        return [value(schema.get("items") or {}, spec, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema)
    return None if schema.get("nullable") else {}


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    step = 1 if integer else 0.5
    if low is not None:
        chosen = low + (step if schema.get("exclusiveMinimum") is True else 0)
    elif high is not None:
        chosen = min(0, high - (step if schema.get("exclusiveMaximum") is True else 0))
    else:
        chosen = 0
    multiple = schema.get("multipleOf")
    if multiple:
        chosen = -(-chosen // multiple) * multiple
    return int(chosen) if integer else float(chosen)


_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "email": "stub@example.com",
}


def _string(schema: Mapping[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format")), "stub")
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < low:
        text += "x" * (low - len(text))
    return text if high is None else text[: int(high)]


def _resolve(node: Any, spec: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < MAX_DEPTH:
        target: Any = spec
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node
