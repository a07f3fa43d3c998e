"""More operations by the list: Portkey's prompt completions, listed, taken from a published file and served.

A copy of the project lists `post /prompts/{promptId}/completions` in overrides/operations.yaml,
takes Portkey's whole published file with `make update-spec`, regenerates with `make gen`, and
serves saved prompts from a store: filled in, validated, routed, streamed, answered in the spec's
envelope (with --validate-responses), and completed by the typed client and by portkey-ai's SDK.
The copy's own unit and contract tiers then pass on it, schemathesis fuzzing the new operation too.
"""

from __future__ import annotations

import sys

import httpx
import pytest

from support.calls import store_file
from support.regen import PUBLISHED, base_path, copy_project, python, run, serving, suite

PROMPTS = "post /prompts/{promptId}/completions"
FILE = PUBLISHED / "openapi-2025-05-28.yaml"
KEY = {"x-portkey-api-key": "pk-prompts"}
STORE = {
    "api_keys": ["pk-prompts"],
    "virtual_keys": {"vk-engine": {"provider": "stub"}},
    "prompts": {
        "pp-haiku": {
            "template": "Write a haiku about {{topic}}.",
            "hyperparameters": {"model": "gpt-3.5-turbo-instruct", "max_tokens": 12, "seed": 3},
        },
        "pp-routed": {
            "template": "Hello {{ name }}",
            "virtual_key": "vk-engine",
            "hyperparameters": {"model": "babbage-002"},
        },
    },
}


@pytest.mark.skipif(not FILE.exists(), reason="../shared/specs/portkey-openapi is not beside this checkout")
def test_prompt_completions_are_served_once_listed(tmp_path):
    project = copy_project(tmp_path, serve=(PROMPTS,))
    taken = run(project, sys.executable, "scripts/update_spec.py", str(FILE))
    assert taken.returncode == 0 and f"cut to post /completions, {PROMPTS}" in taken.stdout, taken.stderr
    generated = run(project, "scripts/gen.sh")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "share the title 'JSON schema'" in generated.stderr  # the named fix, said where it applies

    base = base_path(project)  # the published file's
    store = store_file(tmp_path, STORE)
    with serving(project, "--store", store, "--validate-responses") as url:
        prompts = f"{url}{base}/prompts"
        answer = httpx.post(f"{prompts}/pp-haiku/completions", json={"variables": {"topic": "rain"}, "echo": True})
        assert answer.status_code == 401  # the spec's security: the Portkey key, always
        # A key not in the store learns nothing: the same 401 for a saved prompt and an unknown one.
        stranger = {"x-portkey-api-key": "pk-stranger"}
        for prompt in ("pp-haiku", "pp-gone"):
            refused = httpx.post(f"{prompts}/{prompt}/completions", headers=stranger, json={"variables": {}})
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_api_key"), prompt

        answer = httpx.post(
            f"{prompts}/pp-haiku/completions", headers=KEY, json={"variables": {"topic": "rain"}, "echo": True}
        )
        assert answer.status_code == 200, answer.text
        envelope = answer.json()
        assert envelope["status"] == "success" and envelope["headers"]["content-type"] == "application/json"
        completion = envelope["body"]
        assert completion["object"] == "text_completion" and completion["model"] == "gpt-3.5-turbo-instruct"
        assert completion["choices"][0]["text"].startswith("Write a haiku about rain.")  # echoed: the filled template
        assert completion["usage"]["completion_tokens"] <= 12  # the prompt's max_tokens
        assert answer.headers["x-portkey-provider"] == "stub"

        shorter = httpx.post(
            f"{prompts}/pp-haiku/completions", headers=KEY, json={"variables": {"topic": "rain"}, "max_tokens": 2}
        )
        assert shorter.json()["body"]["usage"]["completion_tokens"] <= 2  # the request's own win

        routed = httpx.post(f"{prompts}/pp-routed/completions", headers=KEY, json={"variables": {"name": "Bo"}})
        assert routed.status_code == 200 and routed.json()["body"]["model"] == "babbage-002"
        journal = httpx.get(f"{url}/__admin/journal").json()["entries"]
        assert [e["route"] for e in journal if e["path"].endswith("/pp-routed/completions")] == ["virtual_key"]

        refusals = {
            "missing variable": ("pp-haiku", {"variables": {}}, 400, "variables.topic"),
            "unused variable": ("pp-haiku", {"variables": {"topic": "a", "mood": "b"}}, 400, "variables.mood"),
            "no variables": ("pp-haiku", {"topic": "a"}, 400, "variables"),
            "bad hyperparameter": ("pp-haiku", {"variables": {"topic": "a"}, "max_tokens": "many"}, 400, "max_tokens"),
            "unknown prompt": ("pp-gone", {"variables": {}}, 404, "promptId"),
        }
        for name, (prompt, body, status, param) in refusals.items():
            refused = httpx.post(f"{prompts}/{prompt}/completions", headers=KEY, json=body)
            assert (refused.status_code, refused.json()["error"]["param"]) == (status, param), name

        streamed_body = {"variables": {"topic": "snow"}, "stream": True}
        with httpx.stream("POST", f"{prompts}/pp-haiku/completions", headers=KEY, json=streamed_body) as streamed:
            events = streamed.read().decode()
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert '"object":"text_completion"' in events and events.rstrip().endswith("data: [DONE]")

        assert f"POST {base}/prompts/{{promptId}}/completions" in httpx.get(f"{url}/").json()["routes"]

        typed = python(
            project,
            "from portkey_completions_client import Client\n"
            "from portkey_completions_client.api.prompts import create_prompt_completion\n"
            "from portkey_completions_client.models import CreatePromptCompletionBody as Body\n"
            "from portkey_completions_client.models import CreatePromptCompletionBodyVariables as Variables\n"
            "from portkey_completions_client.models import CreateCompletionResponse\n"
            f"client = Client(base_url='{url}{base}', headers={KEY!r})\n"
            "body = Body(variables=Variables.from_dict({'topic': 'rain'}))\n"
            "body.additional_properties['max_tokens'] = 3\n"
            "answer = create_prompt_completion.sync('pp-haiku', client=client, body=body)\n"
            "assert isinstance(answer.body, CreateCompletionResponse), answer\n"
            "print(answer.status, answer.body.object_, answer.body.usage.total_tokens)",
        )
        status, kind, tokens = typed.split()
        assert (status, kind) == ("success", "text_completion") and int(tokens) > 0

        sdk = python(
            project,
            "from portkey_ai import Portkey\n"
            f"client = Portkey(api_key='pk-prompts', base_url='{url}{base}')\n"
            "create, rain = client.prompts.completions.create, {'topic': 'rain'}\n"
            "one = create(prompt_id='pp-haiku', variables=rain, max_tokens=3)\n"
            "chunks = create(prompt_id='pp-haiku', variables=rain, stream=True)\n"
            "print(one.status, one.body['object'], sum(1 for c in chunks if c.choices))",
        )
        status, kind, chunks = sdk.split()
        assert (status, kind) == ("success", "text_completion") and int(chunks) > 0

    # The project's tests that read the spec's operations, security and schemas, in the copy (the whole
    # tiers run in test_spec_moves' base-URL copy: three copies of them cost CI a minute and a half).
    suite(project, "tests/unit/test_overlay.py", "tests/unit/test_prompts.py", "tests/contract/test_schemathesis.py",
          "tests/contract/test_auth.py", "tests/contract/test_admin.py")  # fmt: skip
