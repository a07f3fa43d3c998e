"""The spec drives structure, not only fields: each edit, made to a copy of the project's spec alone,
taken as a user takes a new published spec (`make update-spec`, then `make gen`), gives a server that
starts, answers and enforces the new contract, with the typed client and the fixture following.

Each case copies openapi/, overrides/, scripts/, tests/ and pyproject.toml into a temporary project,
edits the spec in a file of its own, takes it with scripts/update_spec.py, regenerates, and starts
`portkey-stub serve` from the copy (its overrides/ and generated/ first on PYTHONPATH). overrides/
is never touched.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from portkey_completions.core import sse
from portkey_completions.testing import credentials
from support import AUTH, BASE, COMPLETIONS, declared
from support.regen import BODY, operation, project_env, regenerated, serving, suite

# -- the edits --------------------------------------------------------------------------------------


def add_operation(spec: dict[str, Any]) -> None:
    spec["paths"]["/models"] = {
        "servers": operation(spec).get("servers") or spec["paths"]["/completions"].get("servers"),
        "get": {
            "operationId": "listModels",
            "summary": "Lists the models.",
            "security": operation(spec)["security"],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelList"}}},
                }
            },
        },
    }
    spec["paths"]["/models"] = {k: v for k, v in spec["paths"]["/models"].items() if v is not None}
    spec["components"]["schemas"]["ModelList"] = {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "created"],
                    "properties": {"id": {"type": "string"}, "created": {"type": "integer", "minimum": 0}},
                },
            },
        },
    }


def add_alternative(spec: dict[str, Any]) -> None:
    spec["components"]["securitySchemes"]["Workspace"] = {
        "type": "apiKey",
        "in": "header",
        "name": "x-portkey-workspace",
    }
    operation(spec)["security"].append({"Portkey-Key": [], "Workspace": []})


def require_response_field(spec: dict[str, Any]) -> None:
    response = spec["components"]["schemas"]["CreateCompletionResponse"]
    response["properties"]["service_tier"] = {"type": "string"}
    response["required"].append("service_tier")


def edit_descriptions(spec: dict[str, Any]) -> None:
    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    node[key] = f"Reworded: {value[::-1]}"
                else:
                    rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(spec)


def add_request_field(spec: dict[str, Any]) -> None:
    request = spec["components"]["schemas"]["CreateCompletionRequest"]
    request["properties"]["priority"] = {"type": "integer", "minimum": 0, "maximum": 9, "nullable": True}


def tighten_bound(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["n"]["maximum"] = 3


def coverage(url: str, operation: str) -> dict[str, dict[str, int]]:
    """A running copy's contract coverage of one operation: dimension -> item -> count."""
    report = httpx.get(f"{url}/__admin/coverage").raise_for_status().json()
    (found,) = [o for o in report["operations"] if o["operation"] == operation]
    return {d["dimension"]: {i["name"]: i["count"] for i in d["items"]} for d in found["dimensions"]}


# -- the cases ---------------------------------------------------------------------------------------


def test_a_new_operation_is_served_from_the_spec(tmp_path):
    project = regenerated(tmp_path, add_operation, serve=("get /models",))
    with serving(project, log=tmp_path / "server.log") as url:
        # Contract coverage has the new operation's items, each missed until a request exercises it.
        before = coverage(url, f"GET {BASE}/models")
        assert before["responses"]["200"] == 0 and set(before["alternatives"]) >= {"virtual_key", "config"}
        models = httpx.get(f"{url}{BASE}/models", headers=AUTH)
        assert models.status_code == 200, models.text
        assert models.headers["x-portkey-stub-synthesized"] == "true"
        assert models.json() == {"object": "list", "data": [{"id": "stub", "created": 0}]}
        refused = httpx.get(f"{url}{BASE}/models")  # the spec's security applies to it too
        assert refused.status_code == 401 and set(refused.json()["error"]) == {"message", "type", "param", "code"}
        # The operations the spec had still answer as before.
        assert httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers=AUTH).status_code == 200
        assert httpx.get(url).json()["routes"][f"GET {BASE}/models"] == "listModels"
        after = coverage(url, f"GET {BASE}/models")
        assert (after["responses"]["200"], after["responses"]["401"], after["alternatives"]["virtual_key"]) == (1, 1, 1)
    assert "listModels" in (tmp_path / "server.log").read_text()  # start-up says what has no handler
    # The project's own tests pass on the new spec: the pin, the overlay (its errors documented on the
    # new operation too, so schemathesis finds no undocumented 401), the auth table.
    suite(project, "tests/unit/test_overlay.py", "tests/contract/test_schemathesis.py", "tests/contract/test_auth.py")


@pytest.mark.parametrize("store", [False, True], ids=["no store", "a store"])
def test_a_new_security_alternative_is_authenticated_and_routed(tmp_path, store):
    project = regenerated(tmp_path, add_alternative)
    flags: list[str] = []
    if store:
        (tmp_path / "store.yaml").write_text("api_keys: [pk-test]\n")
        flags = ["--store", str(tmp_path / "store.yaml")]
    headers = {"x-portkey-api-key": credentials.API_KEY, "x-portkey-workspace": "ws-1"}
    with serving(project, *flags) as url:
        answer = httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers=headers)
        if store:  # a gateway with a store says what it cannot route, never crashes
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "unsupported_alternative"
            assert "x-portkey-workspace" in answer.json()["error"]["message"]
        else:  # without a store every alternative is answered by the stub
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["text"]
            # The typed client, regenerated, is built for it too: its alternatives come from the spec.
            client = (
                "from portkey_completions.client import Completions\n"
                "c = Completions(api_key='pk-test', auth_headers={'x-portkey-workspace': 'ws-1'},"
                f" base_url='{url}{BASE}')\n"
                "print(c.credentials.alternative, c.create(model='babbage-002', prompt='Hi', max_tokens=3).id)\n"
            )
            run = subprocess.run(
                [sys.executable, "-c", client], env=project_env(project), capture_output=True, text=True
            )
            assert run.returncode == 0 and run.stdout.startswith("x-portkey-workspace cmpl-"), run.stderr
        missing = httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers={"x-portkey-api-key": credentials.API_KEY})
        assert missing.status_code == 401 and "x-portkey-workspace" in missing.json()["error"]["message"]
    if not store:
        suite(project, "tests/unit/test_core.py", "tests/contract/test_auth.py", "tests/unit/test_overlay.py")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_new_required_response_field_is_reported_on_the_fast_path(tmp_path, stream):
    project = regenerated(tmp_path, require_response_field if not stream else require_usage_field)
    with serving(project, "--validate-responses", log=tmp_path / "server.log") as url:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}} if stream else BODY
        answer = httpx.post(f"{url}{COMPLETIONS}", json=body, headers=AUTH)
        if stream:
            assert answer.status_code == 200
            events = sse.all_data(answer.content)
            error = httpx.Response(200, content=events[-1]).json()["error"]
        else:
            assert answer.status_code == 500, answer.text
            error = answer.json()["error"]
        assert error["code"] == "invalid_response" and "service_tier" in error["message"]
    assert "service_tier" in (tmp_path / "server.log").read_text()


def require_usage_field(spec: dict[str, Any]) -> None:
    # Streamed chunks are the overlay's schema; the usage chunk carries the spec's CompletionUsage.
    usage = spec["components"]["schemas"]["CompletionUsage"]
    usage["properties"]["service_tier"] = {"type": "string"}
    usage["required"].append("service_tier")


def test_a_description_only_edit_keeps_seeded_output(tmp_path, server):
    project = regenerated(tmp_path, edit_descriptions)
    before = httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers=AUTH).json()
    with serving(project) as url:
        after = httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers=AUTH).json()
    assert after["choices"] == before["choices"]
    assert after["system_fingerprint"] == before["system_fingerprint"]


def test_a_new_optional_request_field_is_validated_on_both_paths(tmp_path):
    project = regenerated(tmp_path, add_request_field)
    with serving(project) as url:
        assert coverage(url, f"POST {COMPLETIONS}")["fields"]["priority: sent"] == 0  # an item, missed
        assert httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "priority": 3}, headers=AUTH).status_code == 200
        for content_type in ("application/json", "application/json; charset=utf-8"):
            refused = httpx.post(
                f"{url}{COMPLETIONS}",
                content=httpx.Request("POST", url, json={**BODY, "priority": 10}).content,
                headers={**AUTH, "content-type": content_type},
            )
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "priority", refused.text
        counted = coverage(url, f"POST {COMPLETIONS}")
        assert (counted["fields"]["priority: sent"], counted["refused"]["priority"]) == (1, 2)


@declared("n")
def test_a_tightened_bound_is_enforced(tmp_path):
    project = regenerated(tmp_path, tighten_bound)
    with serving(project) as url:
        assert httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "n": 3}, headers=AUTH).status_code == 200
        refused = httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "n": 4}, headers=AUTH)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "n", refused.text
