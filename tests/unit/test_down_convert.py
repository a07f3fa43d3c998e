"""scripts/down_convert.py, rule by rule: each OpenAPI 3.1 construct with a 3.0 equivalent becomes it and
is said; one without is refused naming its JSON path. And YAML read as the YAML spec reads it."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from portkey_completions.core.formats import yaml_data
from portkey_completions.server.spec_check import problems
from support import ROOT

_spec = importlib.util.spec_from_file_location("down_convert", ROOT / "scripts" / "down_convert.py")
assert _spec is not None and _spec.loader is not None
down_convert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(down_convert)

pytestmark = pytest.mark.unit


def document(schema: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A 3.1 document whose one component schema is `schema`, with a request body that uses it."""
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}}
    operation = {"requestBody": body, "responses": {"200": {"description": "OK"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/completions": {"post": operation}},
        "components": {"schemas": {"S": schema, "U": {"type": "object"}}},
        **top,
    }


def converted(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out, said = down_convert.convert(document(schema))
    assert out["openapi"] == "3.0.3" and not problems(out), problems(out)  # valid 3.0, as connexion judges
    return out["components"]["schemas"]["S"], said[1:]


@pytest.mark.parametrize(
    ("schema", "expected", "said"),
    [
        (
            {"type": ["string", "null"]},
            {"type": "string", "nullable": True},
            "type: ['string', 'null'] -> type: string",
        ),
        ({"type": ["string", "integer"]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "anyOf of each type"),
        ({"const": "text_completion"}, {"enum": ["text_completion"]}, "const -> a one-value enum"),
        ({"type": "string", "examples": ["a", "b"]}, {"type": "string", "example": "a"}, "examples -> example"),
        (
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 2, "exclusiveMaximum": True},
            "exclusiveMinimum: 0 -> minimum: 0, exclusiveMinimum: true",
        ),
        (
            {"$ref": "#/components/schemas/U", "description": "why"},
            {"allOf": [{"$ref": "#/components/schemas/U"}], "description": "why"},
            "$ref with siblings -> allOf",
        ),
        (
            {"anyOf": [{"$ref": "#/components/schemas/U"}, {"type": "null"}]},
            {"allOf": [{"$ref": "#/components/schemas/U"}], "nullable": True},
            "anyOf: the null branch -> nullable: true",
        ),
    ],
    ids=["type-null", "type-list", "const", "examples", "exclusive", "ref-siblings", "null-branch"],
)
def test_each_rule_converts_and_is_said(schema, expected, said):
    out, lines = converted({"type": "object", "properties": {"p": schema}})
    assert out["properties"]["p"] == expected
    assert len(lines) >= 1 and all(line.startswith("components.schemas.S.properties.p") for line in lines), lines
    assert any(said in line for line in lines), lines


def test_a_schema_that_needs_nothing_is_left_as_it_is_and_nothing_is_said():
    schema = {"type": "object", "properties": {"type": {"type": "string"}, "const": {"type": "integer"}}}
    out, lines = converted(schema)
    assert out == schema and lines == []  # `type` and `const` as property names are names, not keywords


def test_data_and_what_only_31_has_outside_schemas():
    doc = document({"type": "object"}, webhooks={"w": {}}, jsonSchemaDialect="https://x")
    doc["info"] |= {"summary": "s", "license": {"name": "MIT", "identifier": "MIT"}}
    media = doc["paths"]["/completions"]["post"]["requestBody"]["content"]["application/json"]
    media["examples"] = {"one": {"value": {"type": ["x", "null"], "const": 1}}}  # data: never converted
    out, said = down_convert.convert(doc)
    assert not problems(out), problems(out)
    assert "webhooks" not in out and "jsonSchemaDialect" not in out
    assert out["info"] == {"title": "t", "version": "1", "license": {"name": "MIT"}}
    assert (
        out["paths"]["/completions"]["post"]["requestBody"]["content"]["application/json"]["examples"]
        == (media["examples"])
    )
    assert [line.split(":")[0] for line in said] == ["openapi", "webhooks", "jsonSchemaDialect", "info.summary",
                                                      "info.license.identifier"]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "components.schemas.S.properties.p.prefixItems"),
        ({"if": {"type": "string"}, "then": {"minLength": 1}}, "components.schemas.S.properties.p.if"),
        ({"type": "null"}, "components.schemas.S.properties.p.type"),
        ({"type": "object", "patternProperties": {"^x": {}}}, "components.schemas.S.properties.p.patternProperties"),
    ],
    ids=["prefixItems", "if-then", "null-alone", "patternProperties"],
)
def test_a_construct_with_no_30_equivalent_is_refused_naming_its_path(schema, where):
    with pytest.raises(down_convert.Unconvertible) as refused:
        down_convert.convert(document({"type": "object", "properties": {"p": schema}}))
    message = str(refused.value)
    assert message.startswith(f"{where}: ") and "\n" not in message


def test_a_redefined_anchor_is_read_as_the_yaml_spec_reads_it():
    text = "a: &d first\nb: *d\nc: &d second\nd: *d\n"
    assert yaml_data(text, "spec.yaml") == {"a": "first", "b": "first", "c": "second", "d": "second"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a: [1\nb: 2\n", "spec.yaml:2:2: expected ',' or ']', but got ':'"),
        ("a: *nowhere\n", "spec.yaml:1:4: found undefined alias 'nowhere'"),
        ("a: 1\n  b: 2\n", "spec.yaml:2:4: mapping values are not allowed here"),
    ],
)
def test_any_other_yaml_error_is_one_line_with_the_line_and_column(text, said):
    with pytest.raises(ValueError) as refused:
        yaml_data(text, "spec.yaml")
    assert str(refused.value) == said
