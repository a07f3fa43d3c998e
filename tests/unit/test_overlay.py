"""The overlay only adds and relaxes: what the published spec accepts, the effective spec accepts too."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
import yaml
from connexion.json_schema import Draft4RequestValidator, resolve_refs
from hypothesis import given, settings

from portkey_completions_spec import SPEC_PATH
from support import ROOT

PUBLISHED = ROOT / "openapi" / "portkey-completions.yaml"
OVERLAY = ROOT / "overrides" / "overlay.yaml"
LOCK = PUBLISHED.with_suffix(".lock")  # its pin: written by `make update-spec`, with the spec
SEED = ROOT.parent / "shared" / "seed" / "portkey-completions.openapi.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def request_validator(spec: dict) -> Draft4RequestValidator:
    resolved = resolve_refs(spec)
    schema = resolved["paths"]["/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft4RequestValidator(schema)


EFFECTIVE = request_validator(load(SPEC_PATH))


def test_published_spec_is_kept_verbatim():
    pinned = load(LOCK)
    actual = hashlib.sha256(PUBLISHED.read_bytes()).hexdigest()
    assert actual == pinned["sha256"], (
        f"openapi/{PUBLISHED.name} is not the file pinned in openapi/{LOCK.name} (taken from {pinned['source']} "
        f"on {pinned['taken']}): the published spec is never edited by hand. To take a new published spec, run "
        "`make update-spec SPEC=path/to/it.yaml`, then `make gen`; to undo an edit, `git checkout openapi/`."
    )


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed is not beside this checkout")
def test_a_pin_taken_from_the_seed_is_the_seeds():
    pinned = load(LOCK)
    if "shared/seed/" not in pinned["source"]:
        pytest.skip(f"the spec was taken from {pinned['source']}, not the seed")
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() == pinned["sha256"]


def test_overlay_only_updates():
    actions = load(OVERLAY)["actions"]
    assert actions and all(set(a) <= {"target", "description", "update", "x-portkey-if-served"} for a in actions)


def _kept(published, effective, where="$") -> list[str]:
    """Places where the effective spec lost or changed something published."""
    if isinstance(published, dict):
        if not isinstance(effective, dict):
            return [where]
        return [
            p
            for k, v in published.items()
            for p in ([f"{where}.{k}"] if k not in effective else _kept(v, effective[k], f"{where}.{k}"))
        ]
    if isinstance(published, list):
        # Arrays may only grow at the end.
        if not isinstance(effective, list) or len(effective) < len(published):
            return [where]
        return [p for i, v in enumerate(published) for p in _kept(v, effective[i], f"{where}[{i}]")]
    return [] if published == effective else [where]


def test_everything_published_is_still_there():
    assert _kept(load(PUBLISHED), load(SPEC_PATH)) == []


published_operation = schemathesis.openapi.from_path(str(PUBLISHED))["/completions"]["POST"]


@settings(max_examples=300)
@given(case=published_operation.as_strategy())
def test_requests_the_published_spec_accepts_pass_the_effective_spec(case):
    errors = [e.message for e in EFFECTIVE.iter_errors(case.body)]
    assert errors == [], case.body


def test_prompt_null_is_accepted_only_thanks_to_the_overlay():
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": None}
    assert list(request_validator(load(PUBLISHED)).iter_errors(body)), "connexion's quirk is gone: drop the fix"
    assert not list(EFFECTIVE.iter_errors(body))


PROMPTS = "/prompts/{promptId}/completions"


def _effective(tmp_path: Path, spec: dict, overlay: Path = OVERLAY) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    command = [sys.executable, str(ROOT / "scripts" / "apply_overlay.py"), str(path), str(overlay)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_an_action_for_an_operation_applies_only_when_the_spec_serves_it(tmp_path):
    spec = load(PUBLISHED)
    spec["paths"].pop(PROMPTS, None)  # whether or not the list names it today
    without = _effective(tmp_path, spec)
    assert without.returncode == 0, without.stderr
    assert PROMPTS not in yaml.safe_load(without.stdout)["paths"]  # skipped, and nothing added
    operation = {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}}
    served = _effective(tmp_path, {**spec, "paths": {**spec["paths"], PROMPTS: {"post": operation}}})
    assert served.returncode == 0, served.stderr
    content = yaml.safe_load(served.stdout)["paths"][PROMPTS]["post"]["responses"]["200"]["content"]
    assert content["text/event-stream"]["x-sse-sentinel"] == "[DONE]"
    # Served, but moved where the action does not reach: the build stops, naming the target.
    moved = _effective(tmp_path, {**spec, "paths": {**spec["paths"], PROMPTS: {"post": {"responses": {}}}}})
    assert moved.returncode == 1
    assert "target matches nothing: $.paths['/prompts/{promptId}/completions']" in moved.stderr


def test_the_client_reads_shared_titles_as_component_names(tmp_path):
    spec = {
        "openapi": "3.0.0",
        "components": {
            "schemas": {
                "A": {"type": "object", "title": "JSON schema"},
                "B": {"type": "object", "title": "JSON schema"},
                "C": {"type": "object", "title": "Kept"},
            }
        },
    }
    path = tmp_path / "effective.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    command = [sys.executable, str(ROOT / "scripts" / "unshared_titles.py"), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    schemas = yaml.safe_load(done.stdout)["components"]["schemas"]
    assert [s.get("title") for s in schemas.values()] == [None, None, "Kept"]
    assert "A, B share the title 'JSON schema'" in done.stderr
    # Nothing shared: the same bytes, so a spec without the clash generates as it always has.
    del spec["components"]["schemas"]["B"]
    text = "# a comment, kept\n" + yaml.safe_dump(spec)
    path.write_text(text, encoding="utf-8")
    unchanged = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert unchanged.stdout == text and not unchanged.stderr
