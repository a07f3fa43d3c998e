"""`spec-diff`: each kind of edit to the served operations is one line with its level and oasdiff's check id;
the published files compare cleanly both ways; an unchanged spec is an empty report.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from portkey_completions.core import spec_diff
from support import ROOT

# A file of today's shape, written here: the project's own spec changes with `make update-spec`
# (and the spec-change harness runs this file in copies whose spec was edited on purpose).
SPEC = yaml.safe_load("""
openapi: 3.0.0
info: {title: Portkey API, version: 2.0.0}
servers: [{url: https://api.portkey.ai/v1}]
paths:
  /completions:
    servers: [{url: https://api.portkey.ai/v1}]
    post:
      operationId: createCompletion
      security: [{Portkey-Key: [], Virtual-Key: []}, {Portkey-Key: [], Config: []}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/CreateCompletionRequest'}}}
      responses:
        '200':
          description: OK
          content: {application/json: {schema: {$ref: '#/components/schemas/CreateCompletionResponse'}}}
components:
  securitySchemes:
    Portkey-Key: {type: apiKey, in: header, name: x-portkey-api-key}
    Virtual-Key: {type: apiKey, in: header, name: x-portkey-virtual-key}
    Config: {type: apiKey, in: header, name: x-portkey-config}
  schemas:
    CreateCompletionRequest:
      type: object
      required: [model, prompt]
      properties:
        model:
          anyOf: [{type: string}, {type: string, enum: [gpt-3.5-turbo-instruct, davinci-002, babbage-002]}]
        prompt:
          nullable: true
          oneOf: [{type: string}, {type: array, items: {type: string}}]
        n: {type: integer, minimum: 1, maximum: 128, default: 1, nullable: true}
        temperature: {type: number, minimum: 0, maximum: 2, default: 1, nullable: true}
        suffix: {type: string, nullable: true}
        user: {type: string}
        stream_options:
          type: object
          nullable: true
          properties: {include_usage: {type: boolean}}
    CreateCompletionResponse:
      type: object
      required: [id, object, created, model, choices]
      properties:
        id: {type: string}
        object: {type: string, enum: [text_completion]}
        created: {type: integer}
        model: {type: string}
        system_fingerprint: {type: string}
        choices:
          type: array
          items:
            type: object
            required: [index, text, finish_reason]
            properties:
              index: {type: integer}
              text: {type: string}
              finish_reason: {type: string, enum: [stop, length, content_filter]}
""")
SERVED = ["post /completions"]
PUBLISHED = ROOT.parent / "shared" / "specs" / "portkey-openapi"
REQUEST = ("components", "schemas", "CreateCompletionRequest")
RESPONSE = ("components", "schemas", "CreateCompletionResponse")


def at(document: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        document = document[key]
    return document


def operation(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/completions"]["post"]


def remove_suffix(d):
    del at(d, *REQUEST, "properties")["suffix"]


def require_user(d):
    at(d, *REQUEST).setdefault("required", []).append("user")


def add_required(d):
    at(d, *REQUEST, "properties")["tier"] = {"type": "string"}
    at(d, *REQUEST)["required"].append("tier")


def add_optional(d):
    at(d, *REQUEST, "properties")["tier"] = {"type": "string"}


def retype_user(d):
    at(d, *REQUEST, "properties", "user")["type"] = "integer"


def tighten_n(d):
    at(d, *REQUEST, "properties", "n")["maximum"] = 3


def loosen_n(d):
    at(d, *REQUEST, "properties", "n")["maximum"] = 256


def change_default(d):
    at(d, *REQUEST, "properties", "temperature")["default"] = 0.5


def drop_model(d):
    at(d, *REQUEST, "properties", "model", "anyOf", 1)["enum"].remove("davinci-002")


def drop_success(d):
    del operation(d)["responses"]["200"]


def add_error(d):
    operation(d)["responses"]["429"] = {"description": "Too many requests"}


def drop_response_field(d):
    del at(d, *RESPONSE, "properties")["system_fingerprint"]


def new_finish_reason(d):
    at(d, *RESPONSE, "properties", "choices", "items", "properties", "finish_reason")["enum"].append("tool_calls")


def nullable_model(d):
    at(d, *RESPONSE, "properties", "model")["nullable"] = True


def drop_alternative(d):
    operation(d)["security"] = operation(d)["security"][1:]


def add_alternative(d):
    d["components"]["securitySchemes"]["Workspace"] = {"type": "apiKey", "in": "header", "name": "x-portkey-workspace"}
    operation(d)["security"].append({"Portkey-Key": [], "Workspace": []})


def move_base_path(d):
    d["paths"]["/completions"]["servers"] = [{"url": "https://api.portkey.ai/v2"}]


def deprecate(d):
    operation(d)["deprecated"] = True


def remove_operation(d):
    del d["paths"]["/completions"]["post"]


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str, str]] = {
    "a property removed": (remove_suffix, "breaking", "request-property-removed", "suffix was removed"),
    "a property made required": (require_user, "breaking", "request-property-became-required", "user is now required"),
    "a required property added": (add_required, "breaking", "new-required-request-property", "tier was added"),
    "an optional property added": (add_optional, "info", "new-optional-request-property", "tier was added"),
    "a type changed": (retype_user, "breaking", "request-property-type-changed", "user's type changed"),
    "a maximum tightened": (tighten_n, "breaking", "request-property-max-decreased", "from 128 to 3"),
    "a maximum loosened": (loosen_n, "info", "request-property-max-increased", "from 128 to 256"),
    "a default changed": (change_default, "warning", "request-property-default-value-changed", "from 1 to 0.5"),
    "an enum value removed": (drop_model, "breaking", "request-property-enum-value-removed", "'davinci-002'"),
    "a success status removed": (drop_success, "breaking", "response-success-status-removed", "200"),
    "an error status added": (add_error, "info", "response-non-success-status-added", "429"),
    "a response property removed": (drop_response_field, "warning", "response-property-removed", "system_fingerprint"),
    "a response enum value added": (
        new_finish_reason, "warning", "response-property-enum-value-added", "choices[].finish_reason",
    ),
    "a response property made nullable": (nullable_model, "breaking", "response-property-became-nullable", "model"),
    "an alternative removed": (drop_alternative, "breaking", "api-security-removed", "x-portkey-virtual-key"),
    "an alternative added": (add_alternative, "info", "api-security-added", "x-portkey-workspace"),
    "the base path moved": (move_base_path, "breaking", "api-base-path-changed", "from /v1 to /v2"),
    "the operation deprecated": (deprecate, "warning", "endpoint-deprecated", "deprecated"),
    "the operation removed": (remove_operation, "breaking", "api-removed-without-deprecation", "removed"),
}  # fmt: skip


@pytest.mark.parametrize("edit", EDITS)
def test_each_edit_is_one_line_with_its_level_and_check(edit):
    change, level, check, says = EDITS[edit]
    new = copy.deepcopy(SPEC)
    change(new)
    report = spec_diff.diff(SPEC, new, SERVED)
    found = [c for c in report.changes if c.id == check]
    assert len(found) == 1, [(c.id, c.text) for c in report.changes]
    assert found[0].level == level and says in found[0].text and found[0].operation == "post /completions"
    assert found[0].path.startswith("#/"), found[0].path
    assert report.fails("breaking") == (level == "breaking")
    assert report.fails("warning") == (level in ("breaking", "warning"))


def test_an_error_status_removed_is_a_warning():
    old = copy.deepcopy(SPEC)
    add_error(old)
    (change,) = spec_diff.diff(old, SPEC, SERVED).changes
    assert (change.level, change.id) == ("warning", "response-non-success-status-removed") and "429" in change.text


def test_an_unchanged_spec_is_an_empty_report():
    report = spec_diff.diff(SPEC, copy.deepcopy(SPEC), SERVED)
    assert report.changes == [] and report.new_operations == [] and not report.fails("warning")
    assert spec_diff.rendered(report).strip() == "No change to the served operations."


def test_a_new_operation_is_named_with_the_line_that_serves_it():
    new = copy.deepcopy(SPEC)
    new["paths"]["/models"] = {"get": {"responses": {"200": {"description": "the models"}}}}
    report = spec_diff.diff(SPEC, new, SERVED)
    assert report.changes == [] and report.not_served == report.new_operations == ["get /models"]
    assert "    - get /models" in spec_diff.rendered(report)
    assert spec_diff.rendered(report, "json") and report.fields()["new_operations"] == [
        {"operation": "get /models", "serve_with": "  - get /models"}
    ]


@pytest.mark.skipif(not PUBLISHED.exists(), reason="../shared/specs is not beside this checkout")
def test_the_two_published_files_both_ways():
    older, newer = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(PUBLISHED.glob("openapi-*.yaml")))
    forward, backward = spec_diff.diff(older, newer, SERVED), spec_diff.diff(newer, older, SERVED)
    # POST /completions is the same in both; what moved is the operations around it.
    assert forward.changes == backward.changes == []
    gained = set(spec_diff.operations(newer)) - set(spec_diff.operations(older))
    assert gained and set(forward.new_operations) == gained and backward.new_operations == []
    assert len(forward.not_served) == len(spec_diff.operations(newer)) - len(SERVED)


def test_the_forms_say_the_same():
    new = copy.deepcopy(SPEC)
    remove_suffix(new)
    report = spec_diff.diff(SPEC, new, SERVED)
    fields = json.loads(spec_diff.rendered(report, "json"))
    assert fields["schema_version"] == 1 and fields["summary"] == {"breaking": 1, "warning": 0, "info": 0}
    assert fields["changes"][0]["id"] == "request-property-removed"
    assert "| breaking | `request-property-removed` |" in spec_diff.rendered(report, "markdown")
    line = spec_diff.rendered(report).splitlines()[0]
    assert line.startswith("breaking") and "request-property-removed" in line and "suffix" in line


def test_refs_are_followed_on_both_sides(tmp_path: Path):
    """A property moved into a component of its own is no change."""
    new = copy.deepcopy(SPEC)
    user = at(new, *REQUEST, "properties")["user"]
    new["components"]["schemas"]["User"] = user
    at(new, *REQUEST, "properties")["user"] = {"$ref": "#/components/schemas/User"}
    assert spec_diff.diff(SPEC, new, SERVED).changes == []
