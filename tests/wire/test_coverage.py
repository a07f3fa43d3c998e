"""Contract coverage as a team uses it: the pytest plugin's report of an example suite (serially and
under pytest-xdist), `portkey-stub coverage` against a running server, and the HTML report in Chromium.

The example suite sends known requests through the `portkey_stub` fixture, with the official
openai SDK, the project's client and httpx: two auth alternatives and a plain OpenAI request, a
stream and answers that are not, a 429 scenario with Retry-After, a `prompt` that is a list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from portkey_completions.testing import serving
from support import COMPLETIONS, declared
from support.browser import open_page, screenshot

pytestmark = [pytest.mark.wire, declared("prompt", "stream", "max_tokens")]

OPERATION = f"POST {COMPLETIONS}"
EXAMPLE = """
MODEL = "gpt-3.5-turbo-instruct"


def test_a_list_of_prompts(portkey_stub):
    with portkey_stub.httpx() as client:
        answer = client.post("/completions", json={"model": MODEL, "prompt": ["one", "two"], "max_tokens": 3})
    assert answer.status_code == 200 and len(answer.json()["choices"]) == 2


def test_a_stream_from_the_openai_sdk(portkey_stub):
    chunks = list(portkey_stub.openai().completions.create(model=MODEL, prompt="hi", max_tokens=3, stream=True))
    assert chunks


def test_the_provider_alternative(portkey_stub):
    assert portkey_stub.client("provider").create(model=MODEL, prompt="hi", max_tokens=3).choices


def test_a_rate_limit_is_handled(portkey_stub):
    with portkey_stub.scenario(status=429, retry_after=1):
        with portkey_stub.httpx() as client:
            answer = client.post("/completions", json={"model": MODEL, "prompt": "hi", "max_tokens": 3})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
"""
# What the example exercises, item by item; every other item of the report must be missed.
COVERED = {
    "responses": {"200": 3, "429": 1},
    "alternatives": {"virtual_key": 2, "openai_compatible": 1, "provider": 1},
    "fields": {
        "model: sent": 4,
        "model: anyOf[1] enum": 4,
        "model: 'gpt-3.5-turbo-instruct'": 4,
        "prompt: sent": 4,
        "prompt: oneOf[0] string": 3,
        "prompt: oneOf[1] array of string": 1,
        "max_tokens: sent": 4,
        "stream: sent": 1,
        "stream: true": 1,
    },
    "streaming": {"not streamed": 3, "streamed": 1},
    "faults": {"status": 1, "retry_after": 1},
}


def run_example(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    suite = tmp_path / "example"
    suite.mkdir(exist_ok=True)
    (suite / "test_example.py").write_text(EXAMPLE, encoding="utf-8")
    report = tmp_path / f"coverage{len(args)}.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--portkey-coverage=json:{report}", *args],
        cwd=suite, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result, json.loads(report.read_text(encoding="utf-8"))


def counts(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    (operation,) = [o for o in report["operations"] if o["operation"] == OPERATION]
    return {d["dimension"]: {i["name"]: i["count"] for i in d["items"]} for d in operation["dimensions"]}


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("coverage")
    result, report = run_example(tmp_path, "--portkey-coverage=term-missing")
    assert "portkey contract coverage" in result.stdout and "TOTAL" in result.stdout
    return report


def test_the_example_counts_exactly_what_it_sent(example):
    found = counts(example)
    for dimension, items in found.items():
        exercised = {name: n for name, n in items.items() if n}
        assert exercised == COVERED.get(dimension, {}), dimension
    assert "prompt: oneOf[3] array of array of integer" in found["fields"]  # missed, and named
    assert found["responses"]["404"] == 0 and found["faults"]["error_after"] == 0
    total = example["total"]
    assert total["covered"] == sum(len(items) for items in COVERED.values())
    assert total["total"] == sum(len(items) for items in found.values())


def test_the_merged_report_of_two_workers_is_the_serial_one(example, tmp_path):
    _, merged = run_example(tmp_path, "-n", "2")
    assert merged == example


def test_the_cli_reports_a_running_server_and_judges_it(tmp_path, example):
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(example), encoding="utf-8")
    below = cli("--from", str(saved), "--report", "term-missing", "--fail-under", "90")
    assert below.returncode == 1 and "below --fail-under 90%" in below.stderr and "stream ended early" in below.stdout
    with serving.stub("--log-level", "warning") as url:
        headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk"}
        body = {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 2}
        assert httpx.post(f"{url}{COMPLETIONS}", json=body, headers=headers).status_code == 200
        live = cli("--url", url, "--report", f"json:{tmp_path / 'live.json'}", "--fail-under", "1")
        assert live.returncode == 0, live.stderr
        assert counts(json.loads((tmp_path / "live.json").read_text()))["responses"]["200"] == 1
        strict = cli("--url", url, "--fail-under", "90")
        assert strict.returncode == 1 and "TOTAL" in strict.stdout
    gone = cli("--url", url)
    assert gone.returncode == 2 and "\n" not in gone.stderr.strip()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serving.stub_command("coverage", *args), capture_output=True, text=True, timeout=60)


def test_the_html_report_renders_in_chromium(example, browser, tmp_path):
    from portkey_completions.control import coverage_report

    page_file = tmp_path / "coverage.html"
    page_file.write_text(coverage_report.page(example), encoding="utf-8")
    with open_page(browser, "about:blank") as page:
        page.goto(page_file.as_uri())
        assert page.errors() == []
        missed = page.evaluate("[...document.querySelectorAll('tr.missed td:first-child')].map(c => c.innerText)")
        assert "prompt: oneOf[3] array of array of integer" in [m.strip("✗ ").strip() for m in missed]
        rows = page.evaluate("[...document.querySelectorAll('tr')].length")
        assert rows > 100
        shot = screenshot(page, tmp_path / "coverage.png")
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("PORTKEY_ARTIFACTS")
    if artifacts:  # kept by CI beside the run's logs
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "coverage.png").write_bytes(shot.read_bytes())
