"""`portkey-stub verify`: clean against the project's own gateway, each planted break found by its check,
nothing sent on a dry run, and no credential in any form of the report.

The drifting endpoint is a second real server (tests/support/drifting_server.py): the project's
gateway, with one promise broken per request as `x-drift` asks (sent with `--header`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portkey_completions import verify
from portkey_completions.testing import serving
from support import BASE

pytestmark = pytest.mark.wire

API_KEY, VIRTUAL_KEY = "pk-verify-PLANTED-4242", "vk-verify-PLANTED-4242"
CREDENTIALS = {"api_key": API_KEY, "virtual_key": VIRTUAL_KEY}
DRIFTING = Path(__file__).resolve().parents[1] / "support" / "drifting_server.py"
# mode -> (the finding's kind, its check): each planted break, found by name
PLANTED = {
    "status": ("violation", "status-declared"),
    "body": ("violation", "body-valid"),
    "done": ("violation", "stream-ends-done"),
    "usage": ("violation", "usage-adds-up"),
    "max-tokens": ("violation", "within-max-tokens"),
    "finish": ("violation", "finish-reason-length"),
    "index": ("violation", "choice-indexes"),
    "logprobs": ("violation", "logprobs-per-token"),
    "stream-text": ("violation", "stream-equals-completion"),
    "error-shape": ("violation", "error-shape"),
    "header": ("drift", "header"),
    "field": ("drift", "field"),
    "error-kind": ("drift", "error-kind"),
    "chunk": ("drift", "chunk-shape"),
}


@pytest.fixture(scope="module")
def drifting() -> Iterator[str]:
    port = serving.free_port()
    with serving.process([sys.executable, str(DRIFTING), str(port), API_KEY, VIRTUAL_KEY], port) as url:
        yield url


@pytest.fixture(scope="module")
def stub():
    return verify.stub_app(CREDENTIALS)


def findings(url: str, stub, extra: dict[str, str] | None = None) -> dict:
    steps = verify.plan(CREDENTIALS, extra or {}, "gpt-3.5-turbo-instruct")
    return verify.report(url, asyncio.run(verify.run(f"{url}{BASE}", steps, 30, stub)))


def named(found: dict) -> set[tuple[str, str]]:
    return {("violation", v["check"]) for s in found["steps"] for v in s["violations"]} | {
        ("drift", d["kind"]) for s in found["steps"] for d in s["drift"]
    }


def test_the_projects_own_gateway_is_clean(drifting, stub):
    found = findings(drifting, stub)
    assert found["summary"] == {"requests": 8, "violations": 0, "drift": 0}, json.dumps(found, indent=1)


@pytest.mark.parametrize("mode", PLANTED)
def test_each_planted_break_is_found_by_its_check(drifting, stub, mode):
    found = findings(drifting, stub, {"x-drift": mode})
    assert PLANTED[mode] in named(found), json.dumps(found["steps"], indent=1)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serving.stub_command("verify", *args), capture_output=True, text=True, timeout=120)


def test_a_dry_run_sends_nothing_and_says_the_cost(drifting):
    before = httpx.get(f"{drifting}/__count").json()["count"]
    dry = cli("--base-url", f"{drifting}{BASE}", "--api-key", API_KEY, "--virtual-key", VIRTUAL_KEY, "--dry-run")
    assert dry.returncode == 0 and "nothing was sent" in dry.stdout and "at most" in dry.stdout
    capped = cli("--api-key", API_KEY, "--virtual-key", VIRTUAL_KEY, "--dry-run", "--max-requests", "2")
    assert capped.stdout.splitlines()[-1].startswith("2 requests")
    assert httpx.get(f"{drifting}/__count").json()["count"] == before


def test_no_credential_in_any_form(drifting):
    """The endpoint echoes the API key into an error's code (drift): every form says *** instead."""
    secret_header = "routing-PLANTED-secret"
    for form in ("text", "json", "markdown"):
        run = cli(
            "--base-url", f"{drifting}{BASE}", "--api-key", API_KEY, "--virtual-key", VIRTUAL_KEY,
            "--header", "x-drift=leak", "--header", f"x-routing-token={secret_header}", "--format", form,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr  # drift alone does not fail without --fail-on-drift
        for secret in (API_KEY, VIRTUAL_KEY, secret_header):
            assert secret not in run.stdout + run.stderr, form
        assert "error-kind" in run.stdout and "bad key ***" in run.stdout
    failing = cli("--base-url", f"{drifting}{BASE}", "--api-key", API_KEY, "--virtual-key", VIRTUAL_KEY,
                  "--header", "x-drift=header", "--fail-on-drift")  # fmt: skip
    assert failing.returncode == 1
