"""The gateway behaves as Portkey's does with the configs users already send it, each case against real upstreams.

Processes: a gateway (`portkey-stub serve --store …`), a `portkey-stub serve --openai-compatible`
upstream (conftest's `upstream`, whose journal shows what reached it) and the scripted upstream
(its log shows every request and header it received). docs/gateway.md has the table of Portkey's
config keys and headers and what this gateway does with each.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portkey_completions.core import sse
from portkey_completions.testing import serving
from portkey_completions.testing.admin_client import AdminClient
from portkey_completions.testing.serving import wait_until
from support import BASE, COMPLETIONS, calls

pytestmark = pytest.mark.wire

KEY = {"x-portkey-api-key": "pk-gw"}
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5}
LIMITED = {"x-ratelimit-remaining-requests": "41", "x-ratelimit-reset-tokens": "6ms", "openai-organization": "org-up"}


def store(upstream: str, scripted: str) -> dict[str, Any]:
    return {
        "api_keys": ["pk-gw"],
        "providers": {"up": f"{upstream}{BASE}", "flaky": f"{scripted}{BASE}"},
        "virtual_keys": {"vk-up": {"provider": "up", "api_key": "sk-up"}, "vk-flaky": {"provider": "flaky"}},
    }


@pytest.fixture(scope="module")
def store_file(tmp_path_factory, upstream, scripted_server) -> str:
    return calls.store_file(tmp_path_factory.mktemp("portkey"), store(upstream, scripted_server))


@pytest.fixture(scope="module")
def gateway(store_file) -> Iterator[str]:
    with serving.stub("--store", store_file, "--retry-backoff", "fast", "--log-level", "warning") as url:
        yield url


@pytest.fixture
def up(upstream) -> Iterator[AdminClient]:
    """The working upstream's admin API, its journal cleared: what reached it in this test."""
    with AdminClient.at(upstream) as admin:
        admin.journal.clear()
        yield admin


def post(url: str, config: dict[str, Any] | None = None, body: dict[str, Any] | None = None, **headers: str):
    routing = {"x-portkey-config": json.dumps(config)} if config is not None else {}
    return calls.post(url, body or BODY, auth=KEY, headers={**routing, **headers})


def h(**headers: str) -> dict[str, str]:
    """Header names as keywords: x_portkey_metadata= is x-portkey-metadata."""
    return {k.replace("_", "-"): v for k, v in headers.items()}


# -- conditional routing -------------------------------------------------------------------------

PLANS = {
    "strategy": {
        "mode": "conditional",
        "conditions": [
            {"query": {"metadata.user_plan": {"$eq": "paid"}}, "then": "paid"},
            {"query": {"$and": [{"params.max_tokens": {"$gte": 100}}, {"metadata.region": {"$in": ["eu"]}}]},
             "then": "big"},
        ],
        "default": "free",
    },
    "targets": [
        {"name": "paid", "virtual_key": "vk-up"},
        {"name": "big", "virtual_key": "vk-flaky"},
        {"name": "free", "provider": "stub"},
    ],
}  # fmt: skip


def test_conditional_routing_on_metadata_and_params(gateway, up, scripted):
    scripted.script([])
    paid = post(gateway, PLANS, **h(x_portkey_metadata=json.dumps({"user_plan": "paid"})))
    assert paid.status_code == 200, paid.text
    assert (paid.headers["x-portkey-provider"], paid.headers["x-portkey-last-used-option-index"]) == (
        "up",
        "config.targets[0]",
    )
    assert len(up.journal.entries) == 1  # it reached the paid upstream
    big = post(gateway, PLANS, {**BODY, "max_tokens": 120}, **h(x_portkey_metadata='{"region": "eu"}'))
    assert big.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert scripted.log()[0]["body"]["max_tokens"] == 120
    free = post(gateway, PLANS, **h(x_portkey_metadata='{"user_plan": "free"}'))
    assert (free.headers["x-portkey-provider"], free.headers["x-portkey-last-used-option-index"]) == (
        "stub",
        "config.targets[2]",
    )
    assert len(up.journal.entries) == 1 and len(scripted.log()) == 1  # the default went to neither


def test_no_condition_and_no_default_is_a_400_naming_the_config(gateway):
    strategy = {k: v for k, v in PLANS["strategy"].items() if k != "default"}
    refused = post(gateway, {**PLANS, "strategy": strategy})
    assert refused.status_code == 400  # Portkey answers a 500 here
    error = refused.json()["error"]
    assert error["code"] == "no_matching_condition" and error["param"] == "x-portkey-config"
    assert "config.strategy.conditions" in error["message"]
    bad = post(gateway, PLANS, **h(x_portkey_metadata="not json"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-portkey-metadata"


# -- forward_headers, OpenAI organization and project ------------------------------------------------


def test_forward_headers_from_the_config_and_the_request_header(gateway, scripted):
    scripted.script([])
    config = {
        "virtual_key": "vk-flaky",
        "forward_headers": ["x-team", "x-portkey-api-key"],
        "openai_organization": "org-7",
        "openai_project": "proj-3",
    }
    answer = post(
        gateway,
        config,
        **h(x_team="search", x_trace="t-1", x_secret="no", x_portkey_forward_headers="x-trace, x-absent"),
    )
    assert answer.status_code == 200, answer.text
    seen = scripted.log()[0]["headers"]
    assert (seen["x-team"], seen["x-trace"]) == ("search", "t-1")
    assert (seen["openai-organization"], seen["openai-project"]) == ("org-7", "proj-3")
    assert "x-secret" not in seen and "x-absent" not in seen
    assert "x-portkey-api-key" not in seen  # never the Portkey key, even when named
    bad = post(gateway, {"virtual_key": "vk-flaky"}, **h(x_portkey_forward_headers="ok, not a name"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-portkey-forward-headers"


# -- per-attempt timeouts ----------------------------------------------------------------------------


def test_a_timed_out_attempt_is_a_408_the_fallback_acts_on(gateway, up, scripted):
    scripted.script([{"delay": 2}])
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [408]},
        "targets": [{"virtual_key": "vk-flaky", "request_timeout": 300}, {"virtual_key": "vk-up"}],
    }
    started = time.monotonic()
    answer = post(gateway, config)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert time.monotonic() - started < 1.8  # the first target's own 300 ms, not the upstream's 2 s
    assert len(up.journal.entries) == 1


def test_a_timed_out_attempt_is_retried_on_408(gateway, scripted):
    scripted.script([{"delay": 2}])  # then the default completion, at once
    config = {"virtual_key": "vk-flaky", "request_timeout": 300, "retry": {"attempts": 2, "on_status_codes": [408]}}
    answer = post(gateway, config)
    assert answer.status_code == 200 and answer.headers["x-portkey-retry-attempt-count"] == "1"
    assert len(scripted.log()) == 2
    scripted.script([{"delay": 2}, {"delay": 2}])
    timed_out = post(gateway, {**config, "retry": {"attempts": 1, "on_status_codes": [408]}})
    assert timed_out.status_code == 408 and timed_out.json()["error"]["type"] == "timeout_error"
    assert timed_out.headers["x-portkey-retry-attempt-count"] == "-1"


# -- upstream response headers -------------------------------------------------------------------------


def test_the_upstreams_headers_come_back_on_answers_errors_and_streams(gateway, scripted):
    scripted.script(
        [
            {"headers": {**LIMITED, "x-request-id": "req-9", "connection": "close"}},
            {"status": 429, "headers": {**LIMITED, "retry-after": "1"}, "body": {"error": {"message": "slow"}}},
            {"events": ["data: {}", "data: [DONE]"]},
        ]
    )
    ok = post(gateway, {"virtual_key": "vk-flaky"})
    assert {k: ok.headers[k] for k in LIMITED} == LIMITED and ok.headers["x-request-id"] == "req-9"
    assert ok.headers.get("connection") != "close"  # one hop's, not passed on
    limited = post(gateway, {"virtual_key": "vk-flaky"})
    assert limited.status_code == 429 and limited.headers["x-ratelimit-remaining-requests"] == "41"
    with httpx.stream(
        "POST",
        f"{gateway}{COMPLETIONS}",
        json={**BODY, "stream": True},
        headers={**KEY, "x-portkey-virtual-key": "vk-flaky"},
    ) as streamed:
        assert (streamed.headers["cache-control"], streamed.headers["x-accel-buffering"]) == ("no-cache", "no")
        assert list(sse.iter_data(streamed.iter_bytes()))[-1] == "[DONE]"


# -- retries: Portkey's backoff by default ---------------------------------------------------------


def test_retries_wait_1_s_then_2_s_by_default(store_file, scripted, start_stub):
    url = start_stub("--store", store_file, "--log-level", "warning")  # the default: --retry-backoff portkey
    down = {"status": 503, "body": {"error": {"message": "down", "type": "server_error"}}}
    scripted.script([down, down])
    answer = post(url, {"virtual_key": "vk-flaky", "retry": {"attempts": 2}})
    assert answer.status_code == 200 and answer.headers["x-portkey-retry-attempt-count"] == "2"
    times = [e["time"] for e in scripted.log()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.95 <= gaps[0] < 1.6 and 1.95 <= gaps[1] < 2.6, gaps


# -- the response cache ------------------------------------------------------------------------------

CACHED = {"virtual_key": "vk-flaky", "cache": {"mode": "simple", "max_age": 60}}


def test_an_identical_request_is_answered_from_the_cache(gateway, scripted):
    scripted.script([])
    body = {**BODY, "prompt": f"cache me {time.time()}"}
    first = post(gateway, CACHED, body)
    second = post(gateway, CACHED, body)
    assert (first.headers["x-portkey-cache-status"], second.headers["x-portkey-cache-status"]) == ("MISS", "HIT")
    assert second.json() == first.json() and len(scripted.log()) == 1  # a HIT costs no upstream call
    other = post(gateway, CACHED, {**body, "max_tokens": 6})  # another body: another entry
    refreshed = post(gateway, CACHED, body, **h(x_portkey_cache_force_refresh="true"))
    apart = post(gateway, CACHED, body, **h(x_portkey_cache_namespace="team-b"))
    statuses = [r.headers["x-portkey-cache-status"] for r in (other, refreshed, apart)]
    assert statuses == ["MISS", "REFRESH", "MISS"] and len(scripted.log()) == 4
    assert post(gateway, {"virtual_key": "vk-flaky"}, body).headers["x-portkey-cache-status"] == "DISABLED"


def test_a_stream_is_cached_whole_and_replayed_as_a_stream(gateway, scripted):
    chunk = json.dumps({"id": "c", "object": "text_completion", "created": 0, "model": "m", "choices": []})
    scripted.script([{"events": [f"data: {chunk}", f"data: {chunk}", "data: [DONE]"], "interval": 0.05}])
    body = {**BODY, "prompt": f"stream me {time.time()}", "stream": True}
    raws = []
    for _ in range(2):
        with httpx.stream(
            "POST", f"{gateway}{COMPLETIONS}", json=body, headers={**KEY, "x-portkey-config": json.dumps(CACHED)}
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            raws.append((r.headers["x-portkey-cache-status"], b"".join(r.iter_raw())))
    assert [s for s, _ in raws] == ["MISS", "HIT"] and raws[0][1] == raws[1][1]
    assert sse.all_data(raws[1][1]) == [chunk, chunk, "[DONE]"] and len(scripted.log()) == 1
    scripted.script([{"events": [f"data: {chunk}"]}])  # no [DONE]: an incomplete stream is not kept
    body["prompt"] += " cut"
    for status in ("MISS", "MISS"):
        scripted.script([{"events": [f"data: {chunk}"]}])
        with httpx.stream(
            "POST", f"{gateway}{COMPLETIONS}", json=body, headers={**KEY, "x-portkey-config": json.dumps(CACHED)}
        ) as r:
            r.read()
            assert r.headers["x-portkey-cache-status"] == status


def test_a_cached_answer_expires_after_max_age(gateway, scripted):
    scripted.script([])
    config = {**CACHED, "cache": {"mode": "simple", "max_age": 1}}
    body = {**BODY, "prompt": f"expire me {time.time()}"}
    assert post(gateway, config, body).headers["x-portkey-cache-status"] == "MISS"
    kept = time.monotonic()
    assert post(gateway, config, body).headers["x-portkey-cache-status"] == "HIT"
    # HITs until max_age has passed, then a MISS: asked until it comes, never before its time.
    wait_until(
        lambda: post(gateway, config, body).headers["x-portkey-cache-status"] == "MISS",
        timeout=5,
        what="the cached answer's expiry",
    )
    assert time.monotonic() - kept >= 0.9  # max_age 1 s, less the first answer's own time
    assert len(scripted.log()) == 2


def test_two_gateways_on_one_redis_share_the_cache(store_file, scripted, tmp_path, start_stub):
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (Debian's redis-server; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with serving.redis_server(tmp_path) as redis_url:
        a, b = (start_stub("--store", store_file, "--state", redis_url, "--log-level", "warning") for _ in range(2))
        scripted.script([])
        body = {**BODY, "prompt": f"shared {time.time()}"}
        assert post(a, CACHED, body).headers["x-portkey-cache-status"] == "MISS"
        hit = post(b, CACHED, body)
        assert hit.headers["x-portkey-cache-status"] == "HIT" and len(scripted.log()) == 1


# -- what a config says that this gateway does not apply: never silently ---------------------------------


def test_unknown_and_unsupported_keys_and_bare_values_are_refused(gateway):
    typo = post(gateway, {"virtual_key": "vk-up", "retyr": {"attempts": 2}})
    assert typo.status_code == 400 and "unknown key 'retyr' (did you mean 'retry'?)" in typo.json()["error"]["message"]
    hooks = post(gateway, {"virtual_key": "vk-up", "output_guardrails": ["pg-1"]})
    assert hooks.status_code == 400 and "not supported here" in hooks.json()["error"]["message"]
    loose = post(gateway, {"virtual_key": "vk-up", "strict_open_ai_compliance": False})
    assert loose.status_code == 200 and loose.headers["x-portkey-not-applied"] == "config.strict_open_ai_compliance"
    bare = httpx.post(f"{gateway}{COMPLETIONS}", json=BODY, headers={**KEY, "x-portkey-config": "not-a-config"})
    assert bare.status_code == 400 and "neither a JSON object nor a config id" in bare.json()["error"]["message"]


def test_a_bare_config_value_is_refused_without_a_store_too(server):
    headers = {"x-portkey-api-key": "pk", "x-portkey-config": "not-a-config"}
    bare = httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers=headers)
    assert bare.status_code == 400 and bare.json()["error"]["code"] == "invalid_config"
    saved = httpx.post(f"{server}{COMPLETIONS}", json=BODY, headers={**headers, "x-portkey-config": "pc-saved-1"})
    assert saved.status_code == 200  # an id in Portkey's form: the stub, as every id without a store
