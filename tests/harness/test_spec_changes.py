# Over 400 lines: one case per kind of spec edit, each against a regenerated copy; the edits read top to bottom.
"""The spec drives structure, not only fields: each edit, made to a copy of the project's spec alone,
taken as a user takes a new published spec (`make update-spec`, then `make gen`), gives a server that
starts, answers and enforces the new contract, with the typed client and the fixture following.

Each case copies openapi/, overrides/, scripts/, tests/ and pyproject.toml into a temporary project,
edits the spec in a file of its own, takes it with scripts/update_spec.py, regenerates, and starts
`portkey-stub serve` from the copy (its overrides/ and generated/ first on PYTHONPATH). overrides/
is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from portkey_completions.core import sse
from portkey_completions.testing.admin_client import AdminClient
from portkey_completions.testing.serving import stub
from support import AUTH, ROOT

SPEC = "openapi/portkey-completions.yaml"
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 12, "seed": 7}
BIN = Path(sys.executable).parent


def regenerated(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the project whose spec `edit` changed, regenerated; overrides/ as it is."""
    project = tmp_path / "project"
    for part in ("openapi", "overrides", "scripts", "tests"):
        shutil.copytree(ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    spec = yaml.safe_load((project / SPEC).read_text(encoding="utf-8"))
    edit(spec)
    published = tmp_path / "published.yaml"  # the new spec as a user receives it
    published.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for command in (
        [sys.executable, "scripts/update_spec.py", str(published), "--source", "a test's edit"],
        ["scripts/gen.sh"],
    ):
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "overrides").exists() and not _differs(ROOT / "overrides", project / "overrides")
    return project


def _differs(a: Path, b: Path) -> list[str]:
    return [
        str(p.relative_to(a))
        for p in a.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.read_bytes() != (b / p.relative_to(a)).read_bytes()
    ]


def project_env(project: Path) -> dict[str, str]:
    """The copy's code first on the path: its overrides/ (unchanged) and its regenerated generated/."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "overrides"), str(project / "generated")])}


@contextmanager
def serving(project: Path, *flags: str, log: Path | None = None) -> Iterator[str]:
    with log.open("w") if log else open(os.devnull, "w") as out:
        with stub(*flags, env=project_env(project), output=out) as url:
            yield url


def operation(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["paths"]["/completions"]["post"]


def suite(project: Path, *paths: str) -> None:
    """The project's own tests, run in the copy: they check the spec as it now is, with no constant to edit."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=project, env=project_env(project), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def python(project: Path, code: str) -> str:
    """Run `code` with the copy's packages (the regenerated client among them); its output."""
    run = subprocess.run([sys.executable, "-c", code], env=project_env(project), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout


def fixture_test(project: Path, tmp_path: Path, code: str) -> None:
    """A test file that uses the `portkey_stub` fixture, run against the copy's code: it must pass."""
    path = tmp_path / "users" / "test_fixture.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=path.parent, env=project_env(project), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def both_paths(url: str, body: dict[str, Any], path: str = "/v1/completions") -> list[httpx.Response]:
    """The same request on the fast path (Content-Length) and on connexion's (a chunked body)."""
    raw = json.dumps(body).encode()
    headers = {**AUTH, "content-type": "application/json"}
    return [
        httpx.post(f"{url}{path}", content=raw, headers=headers),
        httpx.post(f"{url}{path}", content=iter([raw]), headers=headers),
    ]


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


# -- the cases ---------------------------------------------------------------------------------------


def test_a_new_operation_is_served_from_the_spec(tmp_path):
    project = regenerated(tmp_path, add_operation)
    with serving(project, log=tmp_path / "server.log") as url:
        models = httpx.get(f"{url}/v1/models", headers=AUTH)
        assert models.status_code == 200, models.text
        assert models.headers["x-portkey-stub-synthesized"] == "true"
        assert models.json() == {"object": "list", "data": [{"id": "stub", "created": 0}]}
        refused = httpx.get(f"{url}/v1/models")  # the spec's security applies to it too
        assert refused.status_code == 401 and set(refused.json()["error"]) == {"message", "type", "param", "code"}
        # The operations the spec had still answer as before.
        assert httpx.post(f"{url}/v1/completions", json=BODY, headers=AUTH).status_code == 200
        assert httpx.get(url).json()["routes"]["GET /v1/models"] == "listModels"
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
    headers = {"x-portkey-api-key": "pk-test", "x-portkey-workspace": "ws-1"}
    with serving(project, *flags) as url:
        answer = httpx.post(f"{url}/v1/completions", json=BODY, headers=headers)
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
                f" base_url='{url}/v1')\n"
                "print(c.credentials.alternative, c.create(model='babbage-002', prompt='Hi', max_tokens=3).id)\n"
            )
            run = subprocess.run(
                [sys.executable, "-c", client], env=project_env(project), capture_output=True, text=True
            )
            assert run.returncode == 0 and run.stdout.startswith("x-portkey-workspace cmpl-"), run.stderr
        missing = httpx.post(f"{url}/v1/completions", json=BODY, headers={"x-portkey-api-key": "pk-test"})
        assert missing.status_code == 401 and "x-portkey-workspace" in missing.json()["error"]["message"]
    if not store:
        suite(project, "tests/unit/test_core.py", "tests/contract/test_auth.py", "tests/unit/test_overlay.py")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_new_required_response_field_is_reported_on_the_fast_path(tmp_path, stream):
    project = regenerated(tmp_path, require_response_field if not stream else require_usage_field)
    with serving(project, "--validate-responses", log=tmp_path / "server.log") as url:
        body = {**BODY, "stream": True, "stream_options": {"include_usage": True}} if stream else BODY
        answer = httpx.post(f"{url}/v1/completions", json=body, headers=AUTH)
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
    before = httpx.post(f"{server}/v1/completions", json=BODY, headers=AUTH).json()
    with serving(project) as url:
        after = httpx.post(f"{url}/v1/completions", json=BODY, headers=AUTH).json()
    assert after["choices"] == before["choices"]
    assert after["system_fingerprint"] == before["system_fingerprint"]


def test_a_new_optional_request_field_is_validated_on_both_paths(tmp_path):
    project = regenerated(tmp_path, add_request_field)
    with serving(project) as url:
        assert httpx.post(f"{url}/v1/completions", json={**BODY, "priority": 3}, headers=AUTH).status_code == 200
        for content_type in ("application/json", "application/json; charset=utf-8"):
            refused = httpx.post(
                f"{url}/v1/completions",
                content=httpx.Request("POST", url, json={**BODY, "priority": 10}).content,
                headers={**AUTH, "content-type": content_type},
            )
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "priority", refused.text


def test_a_tightened_bound_is_enforced(tmp_path):
    project = regenerated(tmp_path, tighten_bound)
    with serving(project) as url:
        assert httpx.post(f"{url}/v1/completions", json={**BODY, "n": 3}, headers=AUTH).status_code == 200
        refused = httpx.post(f"{url}/v1/completions", json={**BODY, "n": 4}, headers=AUTH)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "n", refused.text


# -- edits that remove or move things -----------------------------------------------------------------


def remove_suffix(spec: dict[str, Any]) -> None:
    del spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["suffix"]


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


def move_base_url(spec: dict[str, Any]) -> None:
    for servers in (spec["servers"], spec["paths"]["/completions"].get("servers", [])):
        for server in servers:
            server["url"] = server["url"].replace("/v1", "/v2")


def test_a_new_base_url_moves_every_layer(tmp_path):
    project = regenerated(tmp_path, move_base_url)
    with serving(project) as url:
        assert [r.status_code for r in both_paths(url, BODY, "/v2/completions")] == [200, 200]
        gone = both_paths(url, BODY, "/v1/completions")
        assert [r.status_code for r in gone] == [404, 404]
        assert "POST /v2/completions" in gone[0].json()["error"]["message"]
        refused = httpx.post(f"{url}/v2/completions", json=BODY)  # no credentials: a refusal, still traced
        assert refused.status_code == 401 and refused.headers["x-portkey-trace-id"]
        with AdminClient.at(url) as admin:
            assert [e["path"] for e in admin.journal.entries][-3:] == ["/v2/completions"] * 3
        assert "POST /v2/completions" in httpx.get(url).json()["routes"]
    default = python(
        project, "from portkey_completions.client.completions import DEFAULT_BASE_URL; print(DEFAULT_BASE_URL)"
    )
    assert default.strip() == "https://api.portkey.ai/v2"
    fixture_test(
        project,
        tmp_path,
        "def test_the_fixture_follows(portkey_stub):\n"
        "    assert portkey_stub.base_url.endswith('/v2')\n"
        "    assert portkey_stub.client().create(model='gpt-3.5-turbo-instruct', prompt='Hi', max_tokens=3).choices\n",
    )


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
    project = regenerated(tmp_path, add_path_parameter)
    with serving(project) as url:
        found = httpx.get(f"{url}/v1/completions/cmpl-abc123", headers=AUTH)
        assert found.status_code == 200, found.text
        refused = httpx.get(f"{url}/v1/completions/not-an-id", headers=AUTH)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["param"] == "completion_id" and "\n" not in error["message"]
        assert "'not-an-id' does not match" in error["message"]
