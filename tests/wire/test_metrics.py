"""`GET /metrics`: after a known mix of requests every counter is exact, and with workers one scrape sums them."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from portkey_completions.core import sse
from portkey_completions.testing import serving
from support import AUTH, BASE, BODY, calls

KEY = {"x-portkey-api-key": "pk-m"}
STUB = {**KEY, "x-portkey-virtual-key": "vk-stub"}
FALLBACK = {"strategy": {"mode": "fallback"}, "targets": [{"provider": "gone", "api_key": "sk"}, {"provider": "stub"}]}
CACHED = {"provider": "stub", "cache": {"mode": "simple"}}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def usage(answers: list[httpx.Response]) -> tuple[int, int]:
    prompt = completion = 0
    for answer in answers:
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            found = [json.loads(d) for d in sse.all_data(answer.content) if d.startswith("{")]
            figures = [d["usage"] for d in found if d.get("usage")]
        else:
            figures = [answer.json()["usage"]] if answer.status_code == 200 else []
        for u in figures:
            prompt += u["prompt_tokens"]
            completion += u["completion_tokens"]
    return prompt, completion


def test_every_counter_is_exact_after_a_known_mix(tmp_path, start_stub):
    store = calls.store_file(
        tmp_path,
        {"api_keys": ["pk-m"], "providers": {"gone": "http://127.0.0.1:9/v1"},
         "virtual_keys": {"vk-stub": {"provider": "stub"}}},
    )  # fmt: skip
    url = start_stub("--store", store, "--log-level", "warning")
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    cached = {**BODY, "prompt": "cache me"}
    answers = [
        calls.post(url, BODY, auth=STUB),  # the fast path
        calls.post(url, content=json.dumps(BODY).encode(), auth={**STUB, "content-type": "application/json"}),
        calls.post(url, streamed, auth=STUB),
        calls.post(url, BODY, auth={**STUB, "x-portkey-api-key": "pk-wrong"}),  # 401
        calls.post(url, {**BODY, "max_tokens": "x"}, auth=STUB),  # 400
        calls.post(url, BODY, auth={**KEY, "x-portkey-config": json.dumps(FALLBACK)}),
        calls.post(url, cached, auth={**KEY, "x-portkey-config": json.dumps(CACHED)}),
        calls.post(url, cached, auth={**KEY, "x-portkey-config": json.dumps(CACHED)}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 400, 200, 200, 200]
    assert [a.headers["x-portkey-cache-status"] for a in answers[-2:]] == ["MISS", "HIT"]
    figures = scrape(url)
    requests = "portkey_stub_requests_total"
    assert value(figures, requests, route="stub", alternative="virtual_key", status="200") == 3
    assert value(figures, requests, route="gateway", alternative="virtual_key", status="401") == 1
    assert value(figures, requests, route="gateway", alternative="virtual_key", status="400") == 1
    assert value(figures, requests, route="stub", alternative="config", status="200") == 3
    assert sum(v for (n, _), v in figures.items() if n == requests) == 8
    durations = [v for (n, _), v in figures.items() if n == "portkey_stub_request_duration_seconds_count"]
    assert sum(durations) == 8
    assert value(figures, "portkey_stub_time_to_first_token_seconds_count", route="stub") == 1
    prompt, completion = usage(answers)
    model = BODY["model"]
    assert value(figures, "portkey_stub_tokens_total", kind="prompt", model=model) == prompt
    assert value(figures, "portkey_stub_tokens_total", kind="completion", model=model) == completion
    assert value(figures, "portkey_stub_upstream_attempts_total", target="gone", outcome="unreachable") == 1
    assert value(figures, "portkey_stub_fallbacks_total") == 1
    assert value(figures, "portkey_stub_retries_total") == 0
    assert value(figures, "portkey_stub_cache_total", status="MISS") == 1
    assert value(figures, "portkey_stub_cache_total", status="HIT") == 1
    assert value(figures, "process_resident_memory_bytes") > 0
    # Bounded labels: nothing of a request's own (keys, trace ids, prompts) becomes a label.
    text = httpx.get(f"{url}/metrics").text
    assert "pk-m" not in text and "cache me" not in text and "vk-stub" not in text
    assert "_created" not in text  # no second series beside every counter and histogram


def test_a_scenario_rule_and_an_unknown_model_are_labelled_without_growing(start_stub):
    url = start_stub("--log-level", "warning")
    calls.post(url, BODY, headers={"prefer": "code=503"})
    assert calls.post(url, {**BODY, "model": "my-own-model"}).status_code == 404  # OpenAI: model_not_found
    figures = scrape(url)
    assert value(figures, "portkey_stub_rule_hits_total", rule="prefer") == 1
    assert value(figures, "portkey_stub_requests_total", route="scenario", alternative="virtual_key", status="503") == 1
    assert not [k for k in figures if "my-own-model" in str(k)]


def test_with_workers_one_scrape_counts_every_request(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test the workers' metrics: .ci/run installs Debian's redis-server")
        pytest.skip("redis-server is not installed")
    with serving.redis_server(tmp_path) as redis_url:
        flags = ("--workers", "2", "--state", redis_url, "--log-level", "warning")
        with serving.stub(*flags) as url:
            sent = 40
            for _ in range(sent):  # a new connection each: the kernel spreads them over both workers
                assert httpx.post(f"{url}{BASE}/completions", json=BODY, headers=AUTH).status_code == 200
            workers = {httpx.get(f"{url}/__admin/health").json()["worker"] for _ in range(20)}
            totals = [
                value(scrape(url), "portkey_stub_requests_total", route="stub", alternative="virtual_key", status="200")
                for _ in range(6)
            ]
    assert len(workers) == 2, "the requests did not reach both workers"
    assert set(totals) == {sent}, totals  # whichever worker answered the scrape
