"""Valid specs of other shapes than Portkey's today, each made from the project's spec by an edit.

For tests/harness/test_spec_shapes.py: no security, bearer only, one scheme, OpenAPI 3.1, a
redefined YAML anchor, and a union the client generator cannot model. An edit changes the spec's
data in place, or returns the published text itself where the shape is in the text (3.1, anchors).
"""

from __future__ import annotations

from typing import Any

import yaml

from support.regen import operation


def no_security(spec: dict[str, Any]) -> None:
    spec.get("components", {}).pop("securitySchemes", None)
    spec.pop("security", None)
    operation(spec).pop("security", None)


def bearer_only(spec: dict[str, Any]) -> None:
    """An OpenAI-style spec: one bearer scheme, the only requirement."""
    spec["components"]["securitySchemes"] = {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}
    spec["security"] = operation(spec)["security"] = [{"ApiKeyAuth": []}]


def one_scheme(spec: dict[str, Any]) -> None:
    """Portkey's key alone, as Portkey published it in mid-2024."""
    schemes = spec["components"]["securitySchemes"]
    spec["components"]["securitySchemes"] = {"Portkey-Key": schemes["Portkey-Key"]}
    spec["security"] = operation(spec)["security"] = [{"Portkey-Key": []}]


def openapi_31(spec: dict[str, Any]) -> str:
    """The spec written as OpenAPI 3.1 writes it: null in type lists, examples, numeric exclusive bounds, const."""
    up = _up(spec, in_schema=False)
    up["openapi"] = "3.1.0"
    up["info"]["summary"] = "Completions (3.1)"
    return yaml.safe_dump(up, sort_keys=False, allow_unicode=True)


def redefined_anchor(spec: dict[str, Any]) -> str:
    """The spec's text with an anchor defined twice, as Portkey's files have `&run_temperature_description`."""
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    notes = (
        "  x-first: &run_temperature_description First definition.\n"
        "  x-first-use: *run_temperature_description\n"
        "  x-second: &run_temperature_description Second definition.\n"
        "  x-second-use: *run_temperature_description\n"
    )
    head, sep, rest = text.partition("info:\n")
    assert sep, "the spec has an info object"
    return head + sep + notes + rest


def unmodelled_union(spec: dict[str, Any]) -> None:
    """A response property whose union has a branch openapi-python-client cannot model (a mixed-type enum)."""
    response = spec["components"]["schemas"]["CreateCompletionResponse"]
    response["properties"]["service_tier"] = {
        "description": "The tier that served the request, or 0 / 'none' where there was none.",
        "oneOf": [{"type": "string", "enum": ["default", "flex"]}, {"enum": [0, "none"]}],
    }


def _up(node: Any, in_schema: bool) -> Any:
    """3.0 to 3.1 for the constructs scripts/down_convert.py converts back (schemas only)."""
    if isinstance(node, list):
        return [_up(item, in_schema) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        child_is_schema = key in ("schema", "items", "not", "additionalProperties") or (
            in_schema and key in ("allOf", "anyOf", "oneOf")
        )
        if key in ("schemas", "properties") and isinstance(value, dict):
            out[key] = {name: _up(schema, True) for name, schema in value.items()}
        elif key in ("example", "examples") and not in_schema:
            out[key] = value
        else:
            out[key] = _up(value, child_is_schema or (in_schema and key in ("allOf", "anyOf", "oneOf")))
    if in_schema:
        if out.pop("nullable", False):
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        if "example" in out:
            out["examples"] = [out.pop("example")]
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if out.get(exclusive) is True:
                out[exclusive] = out.pop(bound)
        if isinstance(out.get("enum"), list) and len(out["enum"]) == 1 and out["enum"] != [None]:
            out["const"] = out.pop("enum")[0]
    return out
