"""Portkey's spec as Portkey publishes it: the whole file taken, its served operations kept, a broken one refused.

Each whole published file in ../shared/specs/portkey-openapi/ goes through `make update-spec` and
`make gen` in a copy of the project (support.regen); the copy's server then answers on both
paths and streams, refuses a bad body, and its typed client completes. A broken copy is refused
before anything is written, naming where, with openapi/ left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from portkey_completions.server import synthesis
from support import AUTH
from support.regen import (
    BODY,
    OPERATIONS,
    PUBLISHED,
    SPEC,
    base_path,
    both_paths,
    copy_project,
    python,
    run,
    serving,
)  # fmt: skip

FILES = sorted(PUBLISHED.glob("openapi-*.yaml")) if PUBLISHED.exists() else []


@pytest.fixture(params=FILES, ids=[f.stem for f in FILES])
def published(request) -> Path:
    return request.param


@pytest.mark.skipif(not FILES, reason="../shared/specs/portkey-openapi is not beside this checkout")
def test_a_whole_published_file_is_cut_to_the_served_operations_and_served(tmp_path, published):
    project = copy_project(tmp_path)
    taken = run(project, sys.executable, "scripts/update_spec.py", str(published), "--source", published.name)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "cut to post /completions" in taken.stdout
    spec = yaml.safe_load((project / SPEC).read_text(encoding="utf-8"))
    listed = {tuple(e.split(" ", 1)) for e in yaml.safe_load((project / OPERATIONS).read_text())["served"]}
    kept = {(method, path) for method, path, _ in synthesis.operations(spec)}
    assert kept == listed  # the listed operations, and nothing else
    whole = yaml.safe_load(published.read_text(encoding="utf-8"))
    assert spec["paths"]["/completions"].get("servers") == whole["paths"]["/completions"].get("servers")  # kept
    assert "CreateCompletionRequest" in spec["components"]["schemas"]
    assert len(spec["components"]["schemas"]) < len(whole["components"]["schemas"])  # what none references: cut
    lock = yaml.safe_load((project / SPEC).with_suffix(".lock").read_text(encoding="utf-8"))
    assert lock["source_sha256"] == hashlib.sha256(published.read_bytes()).hexdigest()
    assert lock["sha256"] == hashlib.sha256((project / SPEC).read_bytes()).hexdigest()
    # Deterministic: the same file again gives the same bytes.
    first = (project / SPEC).read_bytes()
    assert run(project, sys.executable, "scripts/update_spec.py", str(published)).returncode == 0
    assert (project / SPEC).read_bytes() == first
    generated = run(project, "scripts/gen.sh")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    base = base_path(project)  # the published file's
    with serving(project) as url:
        assert [r.status_code for r in both_paths(url, BODY, f"{base}/completions")] == [200, 200]
        refused = both_paths(url, {**BODY, "max_tokens": "many"}, f"{base}/completions")
        assert [r.status_code for r in refused] == [400, 400] and refused[0].json()["error"]["param"] == "max_tokens"
        with httpx.stream("POST", f"{url}{base}/completions", json={**BODY, "stream": True}, headers=AUTH) as streamed:
            assert streamed.status_code == 200 and b"data: [DONE]" in streamed.read()
        completed = python(
            project,
            "from portkey_completions.client import Completions\n"
            f"with Completions(api_key='pk', virtual_key='vk', base_url='{url}{base}') as c:\n"
            "    print(c.create(model='gpt-3.5-turbo-instruct', prompt='Say this', max_tokens=4).usage.total_tokens)",
        )
        assert int(completed.strip()) > 0


def test_a_broken_spec_is_refused_before_anything_is_written(tmp_path):
    project = copy_project(tmp_path)
    before = {
        p: (project / "openapi" / p).read_bytes() for p in ("portkey-completions.yaml", "portkey-completions.lock")
    }
    spec = yaml.safe_load((project / SPEC).read_text(encoding="utf-8"))
    prompt = spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["prompt"]
    prompt["oneOf"].append({"nullable": "yes", "enum": [None]})
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    refused = run(project, sys.executable, "scripts/update_spec.py", str(broken))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) <= 6, refused.stderr  # a few lines, never the whole schema
    assert "components.schemas.CreateCompletionRequest.properties.prompt.oneOf[" in refused.stderr
    assert "nothing was taken" in lines[0]
    assert {p: (project / "openapi" / p).read_bytes() for p in before} == before
    # `serve` and `make gen` say the same, in the same words, for a spec that got in by hand.
    (project / SPEC).write_text(broken.read_text(encoding="utf-8"), encoding="utf-8")
    generated = run(project, "scripts/gen.sh")
    assert generated.returncode != 0 and "prompt.oneOf[" in generated.stderr
    assert len(generated.stderr.strip().splitlines()) <= 6, generated.stderr


def test_an_update_says_what_it_breaks_and_fail_on_takes_nothing(tmp_path):
    """`make update-spec` prints the spec diff first; FAIL_ON=breaking refuses a breaking update, writing nothing."""
    project = copy_project(tmp_path)
    before = {
        p: (project / "openapi" / p).read_bytes() for p in ("portkey-completions.yaml", "portkey-completions.lock")
    }
    spec = yaml.safe_load((project / SPEC).read_text(encoding="utf-8"))
    del spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["suffix"]
    spec["paths"]["/models"] = {"get": {"responses": {"200": {"description": "the models"}}}}
    edited = tmp_path / "published.yaml"
    edited.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    # make update-spec SPEC=… FAIL_ON=breaking runs this (the copy has no Makefile)
    refused = run(project, sys.executable, "scripts/update_spec.py", str(edited), "--fail-on", "breaking")
    assert refused.returncode != 0
    line = next(said for said in refused.stdout.splitlines() if "request-property-removed" in said)
    assert line.startswith("breaking") and "suffix" in line
    assert "    - get /models" in refused.stdout  # new, with the line that serves it
    assert "nothing was taken" in refused.stderr
    assert {p: (project / "openapi" / p).read_bytes() for p in before} == before
    taken = run(project, sys.executable, "scripts/update_spec.py", str(edited))
    assert taken.returncode == 0 and "request-property-removed" in taken.stdout, taken.stderr
    lock = yaml.safe_load((project / SPEC).with_suffix(".lock").read_text(encoding="utf-8"))
    assert "get /models" in lock["published_operations"]  # the next update names only what is new since
    again = run(project, sys.executable, "scripts/update_spec.py", str(edited), "--fail-on", "breaking")
    assert again.returncode == 0 and "No change to the served operations." in again.stdout
    assert "get /models" not in again.stdout.split("not served")[-1]
