"""Spec edits that remove or move things: a removed field, a moved base URL, required response headers, path parameters.

As test_spec_changes.py: each against a regenerated copy of the project (support.regen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from portkey_completions.testing.admin_client import AdminClient
from support import AUTH, BASE, COMPLETIONS, declared
from support.regen import BODY, both_paths, fixture_test, operation, python, regenerated, serving, suite

# -- edits that remove or move things -----------------------------------------------------------------


def remove_suffix(spec: dict[str, Any]) -> None:
    del spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["suffix"]


@declared("suffix", "echo")  # a spec that lost suffix already: nothing to remove
def test_a_removed_optional_field_is_neither_read_nor_applied(tmp_path):
    project = regenerated(tmp_path, remove_suffix)
    with serving(project) as url:
        assert [r.status_code for r in both_paths(url, BODY)] == [200, 200]
        # Still sent: the spec allows unknown properties, so it is accepted and not applied (with it,
        # echo and suffix together would be a 400).
        sent = {**BODY, "suffix": " end", "echo": True}
        answers = both_paths(url, sent)
        assert [r.status_code for r in answers] == [200, 200], answers[1].text
        assert all(r.json()["choices"][0]["text"].startswith(BODY["prompt"]) for r in answers)  # echo applied
    refused = python(
        project,
        "from portkey_completions.client import Completions, ParameterError\n"
        "c = Completions(api_key='pk', virtual_key='vk', base_url='http://127.0.0.1:9/v1')\n"
        "try:\n    c.create(model='gpt-3.5-turbo-instruct', prompt='x', suffix='y')\n"
        "except ParameterError as e:\n    print('refused', e)\n",
    )
    assert refused.startswith("refused") and "suffix" in refused  # the typed client follows the spec
    fixture_test(
        project,
        tmp_path,
        "def test_without_the_removed_field(portkey_stub):\n"
        "    c = portkey_stub.client()\n"
        "    assert c.create(model='gpt-3.5-turbo-instruct', prompt='Hi', max_tokens=3).choices\n",
    )
    # The project's tests of request fields, in the copy: green, a test of `suffix` skipping by name (the
    # whole tiers run in the base-URL copy below).
    suite(project, "tests/unit/test_overlay.py", "tests/unit/test_reading.py", "tests/contract/test_parameters.py",
          "tests/contract/test_errors.py", "tests/contract/test_fastpath.py")  # fmt: skip


# The base path the edit moves to: another one than the project's own, whatever that is now.
MOVED = "/v2" if BASE != "/v2" else "/v3"


def move_base_url(spec: dict[str, Any]) -> None:
    for servers in (spec["servers"], spec["paths"]["/completions"].get("servers", [])):
        for server in servers:
            server["url"] = server["url"].removesuffix(BASE) + MOVED


def test_a_new_base_url_moves_every_layer(tmp_path):
    project = regenerated(tmp_path, move_base_url)
    with serving(project) as url:
        assert [r.status_code for r in both_paths(url, BODY, f"{MOVED}/completions")] == [200, 200]
        gone = both_paths(url, BODY, COMPLETIONS)
        assert [r.status_code for r in gone] == [404, 404]
        assert f"POST {MOVED}/completions" in gone[0].json()["error"]["message"]
        refused = httpx.post(f"{url}{MOVED}/completions", json=BODY)  # no credentials: a refusal, still traced
        assert refused.status_code == 401 and refused.headers["x-portkey-trace-id"]
        with AdminClient.at(url) as admin:
            assert [e["path"] for e in admin.journal.entries][-3:] == [f"{MOVED}/completions"] * 3
        assert f"POST {MOVED}/completions" in httpx.get(url).json()["routes"]
    default = python(
        project, "from portkey_completions.client.completions import DEFAULT_BASE_URL; print(DEFAULT_BASE_URL)"
    )
    assert default.strip() == "https://api.portkey.ai" + MOVED
    fixture_test(
        project,
        tmp_path,
        "def test_the_fixture_follows(portkey_stub):\n"
        f"    assert portkey_stub.base_url.endswith({MOVED!r})\n"
        "    assert portkey_stub.client().create(model='gpt-3.5-turbo-instruct', prompt='Hi', max_tokens=3).choices\n",
    )
    suite(project, "tests/unit", "tests/contract")  # the tiers read the base path from the spec


def require_response_headers(*names: str) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        ok = operation(spec)["responses"]["200"]
        ok["headers"] = {name: {"required": True, "schema": {"type": "string", "minLength": 1}} for name in names}

    return edit


def test_a_required_response_header_is_sent_or_reported_on_both_paths(tmp_path):
    project = regenerated(tmp_path, require_response_headers("x-request-id"))
    with serving(project, "--validate-responses") as url:
        answers = both_paths(url, BODY)
        assert [r.status_code for r in answers] == [200, 200], answers[1].text
        assert all(r.headers["x-request-id"] == r.headers["x-portkey-trace-id"] for r in answers)
    project = regenerated(tmp_path / "unknown", require_response_headers("x-ratelimit-limit-requests"))
    with serving(project, "--validate-responses") as url:
        for answer in both_paths(url, BODY):
            assert answer.status_code == 500, answer.text
            error = answer.json()["error"]
            assert error["code"] == "invalid_response" and "x-ratelimit-limit-requests" in error["message"]


def add_path_parameter(spec: dict[str, Any]) -> None:
    spec["paths"]["/completions/{completion_id}"] = {
        "get": {
            "operationId": "retrieveCompletion",
            "security": operation(spec)["security"],
            "parameters": [
                {
                    "name": "completion_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^cmpl-[a-z0-9]+$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/CreateCompletionResponse"}}
                    },
                }
            },
        }
    }


def test_a_path_parameter_that_breaks_its_schema_is_a_400_naming_it(tmp_path):
    project = regenerated(tmp_path, add_path_parameter, serve=("get /completions/{completion_id}",))
    with serving(project) as url:
        found = httpx.get(f"{url}{COMPLETIONS}/cmpl-abc123", headers=AUTH)
        assert found.status_code == 200, found.text
        refused = httpx.get(f"{url}{COMPLETIONS}/not-an-id", headers=AUTH)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["param"] == "completion_id" and "\n" not in error["message"]
        assert "'not-an-id' does not match" in error["message"]
