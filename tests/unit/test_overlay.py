"""The overlay only adds and relaxes: what the published spec accepts, the effective spec accepts too."""

from __future__ import annotations

import hashlib
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
    assert actions and all(set(a) <= {"target", "description", "update"} for a in actions)


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
