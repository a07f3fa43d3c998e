"""Any valid spec shape is taken: each, written for the test from the project's spec, goes through
`make update-spec` and `make gen` in a copy of the project, and its server answers a completion on
both paths and streamed, with the typed client where the spec gives it credentials; or the shape is
refused in one line, openapi/ untouched. No start, update or generation prints a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from portkey_completions.core import sse
from support import BASE, COMPLETIONS
from support import spec_shapes as shapes
from support.regen import BODY, SPEC, copy_project, python, regenerated, run
from support.regen import serving as serving_copy

pytestmark = pytest.mark.harness


@contextlib.contextmanager
def serving(project: Path, *flags: str, log: Path | None = None) -> Iterator[str]:
    """The copy's server; its log, once it stopped, holds no traceback."""
    log = log or project.parent / "server.log"
    with serving_copy(project, *flags, log=log) as url:
        yield url
    assert "Traceback" not in log.read_text()


def answers(url: str, headers: dict[str, str]) -> None:
    """A completion on the fast path (Content-Length), on connexion's (chunked), and streamed."""
    raw = json.dumps(BODY).encode()
    sent = {**headers, "content-type": "application/json"}
    for content in (raw, iter([raw])):
        answer = httpx.post(f"{url}{COMPLETIONS}", content=content, headers=sent)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["text"]
    streamed = httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "stream": True}, headers=headers)
    assert streamed.status_code == 200, streamed.text
    events = sse.all_data(streamed.content)
    assert events[-1] == "[DONE]" and json.loads(events[0])["choices"][0]["text"] is not None


def typed_client(project: Path, url: str, arguments: str) -> str:
    """The copy's regenerated client, built with `arguments`: a completion and a stream; what it printed."""
    return python(
        project,
        "from portkey_completions.client import Completions\n"
        f"c = Completions({arguments}{', ' if arguments else ''}base_url='{url}{BASE}')\n"
        "done = c.create(model='babbage-002', prompt='Hi', max_tokens=3)\n"
        "chunks = list(c.stream(model='babbage-002', prompt='Hi', max_tokens=3))\n"
        "print(c.credentials.alternative, done.id.startswith('cmpl-'), len(chunks) > 0)\n",
    )


def refusal(project: Path, arguments: str) -> str:
    """What the copy's client says when built with credentials the spec does not have."""
    return python(
        project,
        "from portkey_completions.client import Completions\n"
        f"try:\n    Completions({arguments})\nexcept ValueError as exc:\n    print(exc)\n",
    ).strip()


def alternatives_seen(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics").text
    found = [line for line in text.splitlines() if line.startswith("portkey_stub_requests_total{")]
    return {line.split('alternative="')[1].split('"')[0] for line in found}


def test_no_security_accepts_every_request_and_the_client_needs_no_credentials(tmp_path):
    project = regenerated(tmp_path, shapes.no_security)
    log = tmp_path / "server.log"
    with serving(project, "--log-level", "info", log=log) as url:
        answers(url, {})
        assert "this API takes no credentials" in refusal(project, "api_key='pk'")
        assert typed_client(project, url, "") == "anonymous True True\n"
        assert alternatives_seen(url) == {"anonymous"}
    assert "the spec asks for no key: every request is accepted" in log.read_text()


@pytest.mark.parametrize("store", [False, True], ids=["no store", "a store"])
def test_bearer_only_names_exactly_the_specs_requirement(tmp_path, store):
    project = regenerated(tmp_path, shapes.bearer_only)
    flags: list[str] = []
    if store:
        (tmp_path / "store.yaml").write_text("api_keys: [sk-local]\n")
        flags = ["--store", str(tmp_path / "store.yaml")]
    with serving(project, *flags) as url:
        missing = httpx.post(f"{url}{COMPLETIONS}", json=BODY)
        assert missing.status_code == 401
        assert missing.json()["error"]["message"] == "Missing Authorization: Bearer header: every request needs it."
        assert missing.headers["www-authenticate"] == "Bearer"
        answers(url, {"authorization": "Bearer sk-local"})
        if store:  # the bearer is the key a store admits
            other = httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers={"authorization": "Bearer sk-other"})
            assert other.status_code == 401
            assert other.json()["error"]["message"] == (
                "Invalid API key: Authorization: Bearer is not one of this gateway's keys."
            )
        else:
            assert typed_client(project, url, "authorization='sk-local'") == "authorization True True\n"
            assert refusal(project, "") == "got nothing; this API takes authorization only"
        assert alternatives_seen(url) == {"authorization", "none"}  # "none": the refused request


def test_one_scheme_is_portkeys_key_alone(tmp_path):
    project = regenerated(tmp_path, shapes.one_scheme)
    with serving(project) as url:
        missing = httpx.post(f"{url}{COMPLETIONS}", json=BODY)
        assert missing.status_code == 401
        said = missing.json()["error"]["message"]
        assert said == "Missing x-portkey-api-key header: every request needs your Portkey API key."
        answers(url, {"x-portkey-api-key": "pk-local"})
        assert typed_client(project, url, "api_key='pk-local'") == "x-portkey-api-key True True\n"
        assert (
            refusal(project, "api_key='pk', virtual_key='vk'")
            == "got api_key + virtual_key; this API takes api_key only"
        )
        assert alternatives_seen(url) == {"x-portkey-api-key", "none"}  # "none": the refused request


AUTH = {"x-portkey-api-key": "pk-local", "x-portkey-virtual-key": "vk-local"}


def test_openapi_31_is_converted_each_change_said_and_pinned(tmp_path):
    project = regenerated(tmp_path, shapes.openapi_31)
    said = (tmp_path / "regen.stderr").read_text()
    assert "3.1 -> 3.0: openapi: 3.1.0 -> 3.0.3" in said and "-> type: " in said and "nullable: true" in said
    taken = yaml.safe_load((project / SPEC).read_text())
    assert taken["openapi"] == "3.0.3" and "summary" not in taken["info"]
    pin = yaml.safe_load((project / SPEC).with_suffix(".lock").read_text())
    assert pin["source_openapi"] == "3.1.0" and "to 3.0.3" in pin["converted"]
    with serving(project) as url:
        answers(url, AUTH)
        assert typed_client(project, url, "api_key='pk', virtual_key='vk'") == "virtual_key True True\n"


def test_a_31_construct_with_no_30_equivalent_is_refused_in_one_line(tmp_path):
    project = copy_project(tmp_path)
    before = (project / SPEC).read_bytes(), (project / SPEC).with_suffix(".lock").read_bytes()

    def tuple_prompt(spec: dict[str, Any]) -> str:
        text = shapes.openapi_31(spec)
        up = yaml.safe_load(text)
        properties = up["components"]["schemas"]["CreateCompletionRequest"]["properties"]
        properties["pair"] = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
        return yaml.safe_dump(up, sort_keys=False)

    spec = yaml.safe_load((project / SPEC).read_text())
    (tmp_path / "published.yaml").write_text(tuple_prompt(spec))
    refused = run(project, sys.executable, "scripts/update_spec.py", str(tmp_path / "published.yaml"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.endswith(
        "components.schemas.CreateCompletionRequest.properties.pair.prefixItems: OpenAPI 3.0 has no equivalent of "
        "JSON Schema's 'prefixItems'; nothing was taken."
    ), line
    assert ((project / SPEC).read_bytes(), (project / SPEC).with_suffix(".lock").read_bytes()) == before


def test_a_redefined_anchor_is_read_as_yaml_reads_it(tmp_path):
    project = regenerated(tmp_path, shapes.redefined_anchor)
    info = yaml.safe_load((project / "generated" / "portkey_completions_spec" / "openapi.yaml").read_text())["info"]
    assert (info["x-first-use"], info["x-second-use"]) == ("First definition.", "Second definition.")
    with serving(project) as url:
        answers(url, AUTH)


def test_another_yaml_error_is_one_line_and_nothing_is_taken(tmp_path):
    project = copy_project(tmp_path)
    before = (project / SPEC).read_bytes()
    (tmp_path / "published.yaml").write_text("openapi: 3.0.3\ninfo: [title\npaths: {}\n")
    refused = run(project, sys.executable, "scripts/update_spec.py", str(tmp_path / "published.yaml"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].endswith(f"not YAML or JSON: {tmp_path}/published.yaml:3:6: "
                                                            "expected ',' or ']', but got ':'")  # fmt: skip
    assert (project / SPEC).read_bytes() == before


def test_a_union_the_client_generator_cannot_model_gets_the_named_fix_for_the_client_only(tmp_path):
    project = regenerated(tmp_path, shapes.unmodelled_union)
    said = (tmp_path / "regen.stderr").read_text()
    assert (
        "client: components.schemas.CreateCompletionResponse.properties.service_tier.oneOf[1]: not modelled by "
        "openapi-python-client, left out of the client's union"
    ) in said
    # The server and the effective spec keep the whole union.
    effective = yaml.safe_load((project / "generated" / "portkey_completions_spec" / "openapi.yaml").read_text())
    tier = effective["components"]["schemas"]["CreateCompletionResponse"]["properties"]["service_tier"]
    assert tier["oneOf"][1] == {"enum": [0, "none"]}
    with serving(project) as url:
        answers(url, AUTH)
        assert typed_client(project, url, "api_key='pk', virtual_key='vk'") == "virtual_key True True\n"


def test_a_schema_no_named_fix_can_model_stops_make_gen_in_one_line(tmp_path):
    project = copy_project(tmp_path)
    spec = yaml.safe_load((project / SPEC).read_text())
    spec["components"]["schemas"]["CreateCompletionResponse"]["properties"]["service_tier"] = {"enum": [0, "none"]}
    (tmp_path / "published.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))  # not a union: no fix applies
    taken = run(project, sys.executable, "scripts/update_spec.py", str(tmp_path / "published.yaml"))
    assert taken.returncode == 0, taken.stderr
    gen = run(project, "scripts/gen.sh", timeout=180)
    assert gen.returncode != 0 and "Traceback" not in gen.stderr
    [line] = gen.stderr.strip().splitlines()
    assert line.startswith("make gen: openapi-python-client cannot model components.schemas.CreateCompletionResponse")
