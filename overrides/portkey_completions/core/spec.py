"""The effective spec, loaded once, and its component schemas as JSON Schema.

The one loader of `generated/portkey_completions_spec/openapi.yaml`: the app, the engine, the
client, scripts and tests read the spec here, without importing connexion. OpenAPI 3.0's
`nullable: true` becomes a null branch and local `$ref`s are inlined; the rest is JSON Schema
draft 4 as the spec writes it.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

from portkey_completions_spec import SPEC_PATH

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")  # a path item's operations


@functools.cache
def load() -> dict[str, Any]:
    """The effective spec as a dict (shared: do not mutate)."""
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@functools.cache
def server_url() -> str:
    """The spec's first server URL (`https://api.portkey.ai/v1`): a client's default base URL."""
    url: str = load()["servers"][0]["url"]
    return url.rstrip("/")


@functools.cache
def base_path() -> str:
    """The path of that URL (`/v1`), under which every operation is served: the one place it is read."""
    return urllib.parse.urlsplit(server_url()).path.rstrip("/")


@functools.cache
def operations_served() -> str:
    """Every operation of the spec as `METHOD /base/path`, for a message that says what is served."""
    paths: Mapping[str, Mapping[str, Any]] = load()["paths"]
    return ", ".join(f"{m.upper()} {base_path()}{p}" for p, item in paths.items() for m in item if m in METHODS)


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """components/schemas/NAME as a self-contained JSON Schema."""
    converted = _json_schema(load()["components"]["schemas"][name], load())
    assert isinstance(converted, dict)
    return converted


@functools.cache
def validator(name: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(schema(name))


def first_error(name: str, instance: Any) -> str | None:
    """The most relevant violation of schema NAME, as `path: message`, or None."""
    return violation(validator(name), instance)


def violation(checker: jsonschema.Draft4Validator, instance: Any) -> str | None:
    """The violation that names the field, as `path: message`, or None when the instance is valid.

    "not valid under any of the given schemas" names no field. The errors inside the branches do;
    those that are more than a wrong type (a null branch) say what the value was meant to be and
    lacks, and the deepest of them is the branch that got furthest.
    """
    errors = list(checker.iter_errors(instance))
    if not errors:
        return None
    leaves, pending = [], list(errors)
    while pending:
        error = pending.pop()
        pending += error.context
        if not error.context and error.validator not in ("type", "enum"):
            leaves.append(error)
    if leaves:
        depth = max(len(e.absolute_path) for e in leaves)
        leaves = [e for e in leaves if len(e.absolute_path) == depth]
    best = jsonschema.exceptions.best_match(leaves or errors)
    assert best is not None
    path = ".".join(str(p) for p in best.absolute_path)
    return f"{path}: {best.message}" if path else best.message


def security(path: str, method: str) -> list[tuple[tuple[str, str, bool], ...]]:
    """The operation's security alternatives, in spec order: each its schemes as (name, header, bearer).

    `header` is lower case; a bearer scheme's header is `authorization`. A spec with no security
    (none declared, or `security: []`) has one alternative that needs nothing: `[()]`, as has an
    empty requirement (`{}`, OpenAPI's "anonymous too") among the others.

    Raises:
        ValueError: a scheme that is not a header (this API's are all headers), or one not declared.
    """
    spec = load()
    schemes = {}
    for name, scheme in ((spec.get("components") or {}).get("securitySchemes") or {}).items():
        if scheme["type"] == "apiKey" and scheme["in"] == "header":
            schemes[name] = (name, scheme["name"].lower(), False)
        elif scheme["type"] == "http" and scheme["scheme"].lower() == "bearer":
            schemes[name] = (name, "authorization", True)
        else:
            raise ValueError(f"security scheme {name!r} is not a header scheme")
    operation = spec["paths"][path][method]
    requirements = operation.get("security", spec.get("security")) or [{}]
    undeclared = sorted({n for requirement in requirements for n in requirement} - set(schemes))
    if undeclared:
        raise ValueError(f"security names {', '.join(undeclared)}, not in components.securitySchemes")
    return [tuple(schemes[n] for n in requirement) for requirement in requirements]


def response_schemas(path: str, method: str, status: int) -> dict[str, dict[str, Any]]:
    """media type -> JSON Schema of the operation's response for `status` (or its `default`); {} if none.

    For `text/event-stream` the schema is that of each event's data, where the event schema names
    one: `x-contentSchema` on its `data` property (or on the event schema itself).
    """
    response = _response(path, method, status)
    if response is None:
        return {}
    found = {}
    for media_type, media in (response.get("content") or {}).items():
        schema = media.get("schema") or {}
        found[media_type] = event_data(schema) if media_type == "text/event-stream" else schema
    return found


def response(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The operation's response object for `status` (or its `NXX`, or `default`), refs inlined; None if none."""
    return _response(path, method, status)


def response_headers(path: str, method: str, status: int) -> dict[str, dict[str, Any]]:
    """The headers that response declares, by lower-case name (each with `required` and its `schema`)."""
    found = _response(path, method, status)
    return {name.lower(): header for name, header in ((found or {}).get("headers") or {}).items()}


@functools.cache
def _response(path: str, method: str, status: int) -> dict[str, Any] | None:
    responses = load()["paths"][path][method].get("responses", {})
    found = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if found is None:
        return None
    resolved = _json_schema(found, load())
    assert isinstance(resolved, dict)
    return resolved


def event_data(schema: Mapping[str, Any]) -> Any:
    """The schema of an SSE event's data, where the event schema names one (OpenAPI 3.0 cannot type
    JSON inside a string): `x-contentSchema` on its `data` property, or on itself; else the event schema."""
    data = (schema.get("properties") or {}).get("data") or {}
    return data.get("x-contentSchema") or schema.get("x-contentSchema") or schema


def _json_schema(node: Any, spec: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_json_schema(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _json_schema(target, spec)
    converted = {k: _json_schema(v, spec) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted
