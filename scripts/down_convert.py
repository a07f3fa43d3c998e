"""OpenAPI 3.1 to 3.0, where every construct has a 3.0 equivalent: the few rules `make update-spec` needs.

connexion reads OpenAPI 3.0 only (its issue #1396), and Portkey has published 3.1 files. What
`make update-spec` takes of one (the served cut) is converted here, a rule at a time, each change
said as a line (`where: what`) for the user to read; a construct with no 3.0 equivalent stops the
conversion with one line naming its JSON path. For JavaScript, the npm package
`@apiture/openapi-down-convert` does the same; these are the rules this project needs:

- `type: [X, "null"]` becomes `type: X` and `nullable: true` (several types: an `anyOf`, one each);
- a `{type: "null"}` branch of `anyOf`/`oneOf` becomes `nullable: true` on what is left;
- `const: V` becomes `enum: [V]`;
- a schema's `examples: [A, …]` becomes `example: A`;
- a numeric `exclusiveMinimum: N` becomes `minimum: N` and `exclusiveMinimum: true` (the maximum too);
- a schema `$ref` with siblings becomes `allOf: [{$ref}]` beside them (3.0 ignores a `$ref`'s
  siblings); another Reference Object's `summary` and `description` are dropped;
- `openapi: 3.1.x` becomes `3.0.3`; what only 3.1 has outside schemas (`webhooks`,
  `jsonSchemaDialect`, `info.summary`, `info.license.identifier`) is dropped.

    python scripts/down_convert.py FILE > CONVERTED   # the changes on stderr; exit 2 if unconvertible
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from portkey_completions.core import formats

TARGET = "3.0.3"
# JSON Schema keywords 3.0's schema object has no form of: a schema using one is refused.
NO_EQUIVALENT = (
    "prefixItems", "if", "then", "else", "dependentSchemas", "dependentRequired", "unevaluatedProperties",
    "unevaluatedItems", "contains", "minContains", "maxContains", "patternProperties", "propertyNames",
    "$dynamicRef", "$dynamicAnchor", "$defs", "$anchor", "contentSchema",
)  # fmt: skip
ONLY_31 = ("webhooks", "jsonSchemaDialect")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
SUBSCHEMAS = ("items", "not", "additionalProperties")


class Unconvertible(ValueError):
    """A construct of OpenAPI 3.1 with no 3.0 equivalent, at a JSON path."""


def is_31(document: Any) -> bool:
    return isinstance(document, dict) and str(document.get("openapi", "")).startswith("3.1")


def convert(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The document as OpenAPI 3.0 (a new dict), and each change made, a line each.

    Raises:
        Unconvertible: a construct with no 3.0 equivalent, named by its JSON path.
    """
    said: list[str] = [f"openapi: {document.get('openapi')} -> {TARGET}"]
    out = {k: v for k, v in document.items() if k not in ONLY_31}
    out["openapi"] = TARGET
    said += [f"{k}: dropped (OpenAPI 3.1 only)" for k in ONLY_31 if k in document]
    info = dict(out.get("info") or {})
    if "summary" in info:
        del info["summary"]
        said.append("info.summary: dropped (OpenAPI 3.1 only)")
    if isinstance(info.get("license"), dict) and "identifier" in info["license"]:
        info["license"] = {k: v for k, v in info["license"].items() if k != "identifier"}
        said.append("info.license.identifier: dropped (OpenAPI 3.1 only)")
    if "info" in out:
        out["info"] = info
    converted = _node(out, "", said)
    assert isinstance(converted, dict)
    return converted, said


def _node(node: Any, at: str, said: list[str]) -> Any:
    """A part of the document outside schemas: walked for the schemas in it."""
    if isinstance(node, list):
        return [_node(item, f"{at}[{i}]", said) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and len(node) > 1:
        dropped = sorted(k for k in node if k != "$ref")
        said.append(f"{at}: the $ref's {', '.join(dropped)} dropped (3.0 ignores a reference's siblings)")
        return {"$ref": node["$ref"]}
    out = {}
    for key, value in node.items():
        here = f"{at}.{key}" if at else key
        if key == "schema" and isinstance(value, dict):
            out[key] = _schema(value, here, said)
        elif key == "schemas" and at == "components" and isinstance(value, dict):
            out[key] = {name: _schema(s, f"{here}.{name}", said) for name, s in value.items()}
        elif key in ("example", "examples") or key.startswith("x-"):
            out[key] = value  # data and extensions, not the document's structure
        else:
            out[key] = _node(value, here, said)
    return out


def _schema(schema: Any, at: str, said: list[str]) -> Any:
    if not isinstance(schema, dict):
        return schema
    for keyword in NO_EQUIVALENT:
        if keyword in schema:
            raise Unconvertible(f"{at}.{keyword}: OpenAPI 3.0 has no equivalent of JSON Schema's {keyword!r}")
    if isinstance(schema.get("items"), list):
        raise Unconvertible(f"{at}.items: a list of schemas (a tuple) has no OpenAPI 3.0 equivalent")
    out = dict(schema)
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
        said.append(f"{at}: $ref with siblings -> allOf: [{{$ref}}] beside them")
    _null_branch(out, at, said)  # before the branches are read: a null branch alone is no schema
    for key in SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_schema(s, f"{at}.{key}[{i}]", said) for i, s in enumerate(out[key])]
    for key in SUBSCHEMAS:
        if isinstance(out.get(key), dict):
            out[key] = _schema(out[key], f"{at}.{key}", said)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {n: _schema(s, f"{at}.properties.{n}", said) for n, s in out["properties"].items()}
    _type_list(out, at, said)
    if "const" in out:
        out["enum"] = [out.pop("const")]
        said.append(f"{at}: const -> a one-value enum")
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out.setdefault("example", examples[0])
        said.append(f"{at}: examples -> example (the first)")
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value = out.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[bound], out[exclusive] = value, True
            said.append(f"{at}: {exclusive}: {value} -> {bound}: {value}, {exclusive}: true")
    if out.get("type") == "null":
        raise Unconvertible(f"{at}.type: a schema of null alone has no OpenAPI 3.0 equivalent")
    return out


def _type_list(out: dict[str, Any], at: str, said: list[str]) -> None:
    types = out.get("type")
    if not isinstance(types, list):
        return
    kinds = [t for t in types if t != "null"]
    if not kinds:
        raise Unconvertible(f"{at}.type: a schema of null alone has no OpenAPI 3.0 equivalent")
    if "null" in types:
        out["nullable"] = True
    if len(kinds) == 1:
        out["type"] = kinds[0]
    else:
        del out["type"]
        out["anyOf"] = [{"type": kind} for kind in kinds]
    said.append(f"{at}: type: {types} -> " + (f"type: {kinds[0]}" if len(kinds) == 1 else "anyOf of each type")
                + (", nullable: true" if "null" in types else ""))  # fmt: skip


def _null_branch(out: dict[str, Any], at: str, said: list[str]) -> None:
    for key in SUBSCHEMA_LISTS:
        branches = out.get(key)
        if not isinstance(branches, list) or {"type": "null"} not in branches:
            continue
        rest = [b for b in branches if b != {"type": "null"}]
        if not rest:
            raise Unconvertible(f"{at}.{key}: a schema of null alone has no OpenAPI 3.0 equivalent")
        if len(rest) == 1 and set(out) == {key}:
            only = rest[0]
            out.pop(key)
            out.update({"allOf": [only]} if "$ref" in only else only)
        else:
            out[key] = rest
        out["nullable"] = True
        said.append(f"{at}.{key}: the null branch -> nullable: true")


def main(path: str) -> int:
    with open(path, "rb") as f:
        document = formats.yaml_data(f.read(), path)
    try:
        converted, said = convert(document)
    except Unconvertible as exc:
        print(f"{path}: not convertible to OpenAPI 3.0: {exc}", file=sys.stderr)
        return 2
    for line in said:
        print(f"3.1 -> 3.0: {line}", file=sys.stderr)
    yaml.safe_dump(converted, sys.stdout, sort_keys=False, allow_unicode=True, width=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
