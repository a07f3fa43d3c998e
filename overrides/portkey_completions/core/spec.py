"""The effective spec, loaded once, and its component schemas as JSON Schema.

The one loader of `generated/portkey_completions_spec/openapi.yaml`: the app, the engine, the
client, scripts and tests read the spec here, without importing connexion. OpenAPI 3.0's
`nullable: true` becomes a null branch and local `$ref`s are inlined; the rest is JSON Schema
draft 4 as the spec writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

from portkey_completions_spec import SPEC_PATH


@functools.cache
def load() -> dict[str, Any]:
    """The effective spec as a dict (shared: do not mutate)."""
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


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
    error = jsonschema.exceptions.best_match(validator(name).iter_errors(instance))
    if error is None:
        return None
    path = ".".join(str(p) for p in error.absolute_path)
    return f"{path}: {error.message}" if path else error.message


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
