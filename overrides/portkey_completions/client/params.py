"""A request body holding exactly the parameters the caller passed, checked against the spec first.

The check is the effective spec's own CreateCompletionRequest schema, so a bound changed in the
spec is a bound changed here after `make gen`. OpenAPI 3.0's `nullable` becomes JSON Schema's
null type; everything else is JSON Schema draft 4 as the spec writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jsonschema
import yaml

from portkey_completions_spec import SPEC_PATH

from .errors import ParameterError


@functools.cache
def _schema() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    schema = _json_schema(spec["components"]["schemas"]["CreateCompletionRequest"], spec)
    assert isinstance(schema, dict)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_schema())


def _json_schema(node: Any, spec: Mapping[str, Any]) -> Any:
    """Inline local $refs and turn `nullable: true` into a null branch."""
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


def names() -> frozenset[str]:
    return frozenset(_schema()["properties"])


def body(params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for these parameters, exactly as given (None is sent as null).

    Raises:
        ParameterError: an unknown name, a missing required one, or a value outside the spec.
    """
    unknown = sorted(set(params) - names())
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r}; the spec's are: {', '.join(sorted(names()))}", param=unknown[0]
        )
    missing = [name for name in _schema().get("required", ()) if name not in params]
    if missing:
        raise ParameterError(f"missing required parameter {missing[0]!r}", param=missing[0])
    data = dict(params)
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        param = ".".join(str(p) for p in error.absolute_path) or None
        raise ParameterError(f"{param}: {error.message}" if param else error.message, param=param)
    return data
