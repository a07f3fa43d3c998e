"""The `portkey_stub` fixture as a user meets it: a user's test file, run by pytest in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

USER_TESTS = """
import httpx
import pytest

MODEL = "gpt-3.5-turbo-instruct"


@pytest.mark.parametrize("k", range(6))
def test_each_test_has_its_own_rules_counters_and_journal(portkey_stub, k):
    with portkey_stub.scenario(status=500, fail_first=1):
        with portkey_stub.httpx() as client:
            first = client.post("/completions", json={"model": MODEL, "prompt": f"p{k}", "max_tokens": 2})
            second = client.post("/completions", json={"model": MODEL, "prompt": f"p{k}", "max_tokens": 2})
    assert (first.status_code, second.status_code) == (500, 200)  # fail_first counted for this test only
    assert [e["status"] for e in portkey_stub.journal.entries] == [500, 200]
    portkey_stub.journal.assert_called_with(prompt=f"p{k}")


def test_response_headers_and_status(portkey_stub):
    with portkey_stub.scenario(status=429, response_headers={"x-ratelimit-remaining-requests": "0"}):
        answer = portkey_stub.httpx().post("/completions", json={"model": MODEL, "prompt": "x"})
    assert answer.status_code == 429 and answer.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(TypeError, match="match_headers"):
        with portkey_stub.scenario(headers={"x": "y"}, status=500):
            pass


def test_the_openai_client_it_hands_out(portkey_stub):
    with portkey_stub.scenario(text=" from the rule"):
        completion = portkey_stub.openai().completions.create(model=MODEL, prompt="x")
    assert completion.choices[0].text == " from the rule"


def test_ttft_delays_an_answer_that_is_not_streamed(portkey_stub):
    import time

    with portkey_stub.scenario(ttft=0.4):
        started = time.monotonic()
        portkey_stub.client().create(model=MODEL, prompt="x", max_tokens=2)
    assert time.monotonic() - started >= 0.4


def test_an_injected_disconnect_is_quiet(portkey_stub):
    with portkey_stub.scenario(text="a b c d e f g h", disconnect_after=2), pytest.raises(httpx.HTTPError):
        body = {"model": MODEL, "prompt": "x", "stream": True}
        with portkey_stub.httpx().stream("POST", "/completions", json=body) as r:
            for _ in r.iter_lines():
                pass


def test_a_request_given_up_on_is_ended_at_teardown(portkey_stub):
    with portkey_stub.scenario(latency=30):
        with pytest.raises(httpx.TimeoutException):
            portkey_stub.httpx(timeout=0.3).post("/completions", json={"model": MODEL, "prompt": "x"})


@pytest.mark.portkey_stub(store="store.yaml")
def test_file_options_take_paths(portkey_stub):
    url, body = f"{portkey_stub.base_url}/completions", {"model": MODEL, "prompt": "x"}
    known = {"x-portkey-api-key": "pk-test", "Authorization": "Bearer sk", "x-portkey-provider": "stub"}
    assert httpx.post(url, json=body, headers=known).status_code == 200
    unknown = {**known, "x-portkey-api-key": "pk-other"}  # the store's keys only
    assert httpx.post(url, json=body, headers=unknown).status_code == 401
"""


def run_user_tests(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "store.yaml").write_text("api_keys: [pk-test]\n")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *args, "test_user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return result, time.monotonic() - started


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "pytest -n 2"])
def test_a_users_test_file_passes_isolated(tmp_path, workers):
    result, took = run_user_tests(tmp_path, *workers)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "12 passed" in result.stdout
    # Quiet: no ERROR line for the injected disconnect, no third-party warnings in the summary.
    assert "ERROR" not in result.stdout and "warnings summary" not in result.stdout, result.stdout[-4000:]
    # The request given up on (a 30 s latency) was ended at its test's teardown, not waited for.
    assert took < 25, took
