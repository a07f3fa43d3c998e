"""The gateway on loopback, in front of real upstreams.

Processes: a gateway (`portkey-stub serve --store … --validate-upstream`), a second
`portkey-stub serve --openai-compatible` as a working upstream (conftest's `upstream`), and
tests/support/scripted_server.py as a deliberately failing one (statuses, Retry-After, slow, cut).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portkey_completions.app import create_app
from portkey_completions.core import sse
from portkey_completions.gateway.store import Store, VirtualKey
from portkey_completions.testing import serving
from portkey_completions.testing.admin_client import AdminClient
from support import BASE, COMPLETIONS, calls

pytestmark = pytest.mark.wire

KEY = {"x-portkey-api-key": "pk-gw"}
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5}
PORTKEY_HEADERS = (
    "x-portkey-trace-id",
    "x-portkey-provider",
    "x-portkey-retry-attempt-count",
    "x-portkey-last-used-option-index",
    "x-portkey-cache-status",
)


def store_data(upstream: str, scripted: str) -> dict[str, Any]:
    return {
        "api_keys": ["pk-gw", "pk-other"],
        "providers": {"up": f"{upstream}{BASE}", "flaky": f"{scripted}{BASE}"},
        "virtual_keys": {
            "vk-up": {"provider": "up", "api_key": "sk-up"},
            "vk-flaky": {"provider": "flaky", "api_key": "sk-flaky"},
            "vk-stub": {"provider": "stub"},
            "vk-gone": {"provider": "up", "base_url": "http://127.0.0.1:9/v1"},
        },
        "configs": {
            "pc-fallback": {
                "strategy": {"mode": "fallback", "on_status_codes": [429]},
                "targets": [{"virtual_key": "vk-flaky"}, {"provider": "stub"}],
            }
        },
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream, scripted_server) -> Iterator[str]:
    path = calls.store_file(tmp_path_factory.mktemp("gateway"), store_data(upstream, scripted_server))
    flags = ("--validate-upstream", "--retry-backoff", "fast", "--log-level", "warning")
    with serving.stub("--store", str(path), *flags) as url:
        yield url


def post(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> httpx.Response:
    return calls.post(url, body or BODY, auth=KEY, headers=headers)


def config(value: dict[str, Any]) -> dict[str, str]:
    return {"x-portkey-config": json.dumps(value)}


# -- keys ---------------------------------------------------------------------------------------


def test_only_the_stores_api_keys_pass(gateway):
    refused = post(gateway, {"x-portkey-api-key": "pk-nope", "x-portkey-virtual-key": "vk-stub"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert post(gateway, {"x-portkey-api-key": "pk-other", "x-portkey-virtual-key": "vk-stub"}).status_code == 200


def test_a_strangers_key_is_refused_before_a_scenario_rule_answers(gateway):
    """As Portkey checks the key first: a test's rules shape answers to the store's keys only."""
    with AdminClient.at(gateway, namespace="keys-first") as admin:
        admin.add_rule({"respond": {"status": 429}})
        url = f"{gateway}/ns/keys-first"
        stranger = post(url, {"x-portkey-api-key": "pk-nope", "x-portkey-virtual-key": "vk-stub"})
        assert stranger.status_code == 401 and stranger.json()["error"]["code"] == "invalid_api_key"
        assert post(url, {"x-portkey-virtual-key": "vk-stub"}).status_code == 429
        admin.clear_rules()


# -- each alternative routes where it should ----------------------------------------------------


def test_virtual_key_to_an_upstream(gateway):
    response = post(gateway, {"x-portkey-virtual-key": "vk-up"})
    assert response.status_code == 200, response.text
    assert response.headers["x-portkey-provider"] == "up"
    assert response.headers["x-portkey-last-used-option-index"] == "config"  # as Portkey: routed by headers alone
    assert all(h in response.headers for h in PORTKEY_HEADERS)
    assert response.json()["choices"][0]["text"] is not None


def test_virtual_key_to_the_stub_and_an_unknown_one(gateway):
    assert post(gateway, {"x-portkey-virtual-key": "vk-stub"}).headers["x-portkey-provider"] == "stub"
    unknown = post(gateway, {"x-portkey-virtual-key": "vk-missing"})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_virtual_key"


def test_provider_forwards_only_the_body_and_the_bearer(gateway, scripted):
    scripted.script([])
    headers = {"Authorization": "Bearer sk-caller", "x-portkey-provider": "flaky", "x-portkey-trace-id": "t-1"}
    response = post(gateway, headers)
    assert response.status_code == 200
    assert response.headers["x-portkey-provider"] == "flaky" and response.headers["x-portkey-trace-id"] == "t-1"
    [seen] = scripted.log()
    assert seen["headers"]["authorization"] == "Bearer sk-caller"
    # Of Portkey's headers only the trace id travels on, with a W3C traceparent (a new trace here).
    assert [h for h in seen["headers"] if h.startswith("x-portkey")] == ["x-portkey-trace-id"]
    assert seen["headers"]["x-portkey-trace-id"] == "t-1"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", seen["headers"]["traceparent"])
    assert "pk-gw" not in json.dumps(seen["headers"])
    assert seen["body"] == BODY


def test_an_incoming_traceparent_is_continued_upstream(gateway, scripted):
    scripted.script([])
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = {"Authorization": "Bearer sk-caller", "x-portkey-provider": "flaky", "traceparent": incoming}
    response = post(gateway, headers)
    [seen] = scripted.log()
    trace_id = response.headers["x-portkey-trace-id"]  # made by the gateway: the caller sent none
    assert seen["headers"]["x-portkey-trace-id"] == trace_id
    version, trace, parent, flags = seen["headers"]["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert parent != "00f067aa0ba902b7" and len(parent) == 16  # this hop is the upstream's parent


def test_an_unknown_provider_is_400(gateway):
    response = post(gateway, {"Authorization": "Bearer sk", "x-portkey-provider": "nowhere"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_provider"


def test_custom_host_goes_to_that_base_url(gateway, scripted):
    scripted.script([])
    headers = {
        "Authorization": "Bearer sk-host",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"{scripted.url}{BASE}",
    }
    response = post(gateway, headers)
    assert response.status_code == 200 and response.headers["x-portkey-provider"] == "openai"
    assert scripted.log()[0]["headers"]["authorization"] == "Bearer sk-host"


def test_config_json_id_and_errors(gateway, scripted):
    scripted.script([{"status": 429, "body": {"error": {"message": "slow", "type": "rate_limit_error"}}}])
    saved = post(gateway, {"x-portkey-config": "pc-fallback"})
    assert saved.status_code == 200 and saved.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    for header, words in [
        ("pc-missing", "not a saved config"),
        ("{not json", "not valid JSON"),
        (json.dumps({"strategy": {"mode": "roundrobin"}, "targets": [{"provider": "stub"}]}), "strategy.mode"),
        (json.dumps({"strategy": {"mode": "fallback"}}), "needs targets"),
        (json.dumps({"retry": {"attempts": 9}, "provider": "stub"}), "attempts"),
    ]:
        response = post(gateway, {"x-portkey-config": header})
        assert response.status_code == 400, header
        error = response.json()["error"]
        assert error["code"] == "invalid_config" and words in error["message"], error


# -- strategies ---------------------------------------------------------------------------------


def test_fallback_moves_on_only_for_the_listed_codes(gateway, scripted):
    targets = [{"virtual_key": "vk-flaky"}, {"virtual_key": "vk-up"}]
    limited = {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}}
    scripted.script([{"status": 429, "body": limited}])
    moved = post(gateway, config({"strategy": {"mode": "fallback", "on_status_codes": [429]}, "targets": targets}))
    assert moved.status_code == 200
    assert (moved.headers["x-portkey-provider"], moved.headers["x-portkey-last-used-option-index"]) == (
        "up",
        "config.targets[1]",
    )
    scripted.script([{"status": 429, "body": limited}])
    kept = post(gateway, config({"strategy": {"mode": "fallback", "on_status_codes": [500]}, "targets": targets}))
    assert kept.status_code == 429 and kept.json() == limited
    assert kept.headers["x-portkey-last-used-option-index"] == "config.targets[0]"


def test_retries_count_attempts_and_honour_retry_after(gateway, scripted):
    slow = {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"message": "wait", "type": "x"}}}
    scripted.script([slow])
    response = post(gateway, config({"retry": {"attempts": 3, "on_status_codes": [429]}, "virtual_key": "vk-flaky"}))
    assert response.status_code == 200 and response.headers["x-portkey-retry-attempt-count"] == "1"
    first, second = scripted.log()
    assert second["time"] - first["time"] >= 0.95

    down = {"status": 503, "body": {"error": {"message": "down", "type": "server_error"}}}
    scripted.script([down, down, down])
    response = post(gateway, config({"retry": {"attempts": 2}, "virtual_key": "vk-flaky"}))
    # Every retry spent and still failing: Portkey says -1.
    assert response.status_code == 503 and response.headers["x-portkey-retry-attempt-count"] == "-1"
    assert len(scripted.log()) == 3


def test_request_timeout_is_408(gateway, scripted):
    scripted.script([{"delay": 2}])
    started = time.monotonic()
    response = post(gateway, config({"request_timeout": 300, "virtual_key": "vk-flaky"}))
    assert response.status_code == 408 and response.json()["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 1.8


def test_override_params_are_merged_into_the_body(gateway, scripted):
    scripted.script([])
    post(gateway, config({"virtual_key": "vk-flaky", "override_params": {"max_tokens": 99, "user": "cfg"}}))
    assert scripted.log()[0]["body"] == {**BODY, "max_tokens": 99, "user": "cfg"}


# -- forwarding ---------------------------------------------------------------------------------


def test_a_stream_through_the_gateway_is_byte_identical(gateway, scripted):
    chunk = {
        "id": "cmpl-s",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": "é 🙂", "logprobs": None, "finish_reason": None}],
    }
    events = [f"data: {json.dumps(chunk, ensure_ascii=False)}", ": comment", "data: [DONE]"]
    scripted.script([{"events": events, "interval": 0.01}])
    body = {**BODY, "stream": True}
    with httpx.stream(
        "POST", f"{gateway}{COMPLETIONS}", json=body, headers={**KEY, "x-portkey-virtual-key": "vk-flaky"}
    ) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-type"].startswith("text/event-stream")
    assert raw == "".join(e + "\n\n" for e in events).encode()


def test_upstream_errors_keep_their_status_in_the_openai_shape(gateway, scripted):
    scripted.script([{"status": 503, "body": "upstream maintenance"}])
    response = post(gateway, {"x-portkey-virtual-key": "vk-flaky"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert "upstream maintenance" in error["message"] and error["type"] == "server_error"


def test_an_unreachable_upstream_is_502(gateway):
    response = post(gateway, {"x-portkey-virtual-key": "vk-gone"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_unreachable" and "127.0.0.1:9" in error["message"]
    assert "Traceback" not in response.text


def test_a_connection_reset_mid_answer_is_502(gateway, scripted):
    scripted.script([{"reset": True}])
    response = post(gateway, {"x-portkey-virtual-key": "vk-flaky"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"


CHUNK = json.dumps(
    {
        "id": "cmpl-s",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": "a", "logprobs": None, "finish_reason": None}],
    }
)


def stream_data(url: str, headers: dict[str, str]) -> list[str]:
    """The data of every event of a stream that must end cleanly (a cut raises RemoteProtocolError)."""
    with httpx.stream(
        "POST", f"{url}{COMPLETIONS}", json={**BODY, "stream": True}, headers={**KEY, **headers}, timeout=10
    ) as response:
        assert response.status_code == 200
        return list(sse.iter_data(response.iter_raw()))


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"events": [f"data: {CHUNK}"], "cut": True}, "upstream_error"),
        ({"events": [f"data: {CHUNK}\n\n", 'data: {"id": "cmpl-'], "raw": True, "cut": True}, "upstream_error"),
        ({"events": [f"data: {CHUNK}", "data: not json", f"data: {CHUNK}", "data: [DONE]"]}, "upstream_malformed"),
        ({"events": [f"data: {CHUNK}"]}, "upstream_incomplete"),
    ],
    ids=["cut-between-events", "cut-mid-event", "malformed-event", "closed-without-done"],
)
def test_an_upstream_stream_that_goes_wrong_ends_with_an_error_event(gateway, scripted, answer, code):
    """What came whole comes through; then one error event, and the caller's stream ends cleanly."""
    scripted.script([answer])
    data = stream_data(gateway, {"x-portkey-virtual-key": "vk-flaky"})
    assert data[0] == CHUNK and len(data) == 2, data
    error = json.loads(data[1])["error"]
    assert (error["code"], error["type"]) == (code, "api_error")
    assert error["message"].startswith("The upstream flaky ")


def test_the_openai_sdk_raises_on_a_malformed_upstream_event(gateway, scripted):
    import openai

    scripted.script([{"events": [f"data: {CHUNK}", "data: {oops", "data: [DONE]"]}])
    client = openai.OpenAI(
        base_url=f"{gateway}{BASE}", api_key="unused", default_headers={**KEY, "x-portkey-virtual-key": "vk-flaky"}
    )
    texts = []
    with pytest.raises(openai.APIError, match="not JSON"):
        for chunk in client.completions.create(model="m", prompt="p", stream=True):
            texts.append(chunk.choices[0].text)
    assert texts == ["a"]


def test_a_stalled_upstream_stream_ends_with_a_timeout_event(scripted):
    """Nothing for longer than --upstream-timeout between chunks: an upstream_timeout event (in-process)."""
    store = Store(api_keys=("pk-gw",), virtual_keys={"vk": VirtualKey("flaky", base_url=f"{scripted.url}{BASE}")})
    app = create_app(store=store, upstream_timeout=0.5)
    scripted.script([{"events": [f"data: {CHUNK}", f"data: {CHUNK}"], "interval": 3}])
    started = time.monotonic()
    with app.test_client() as client:
        response = client.post(
            COMPLETIONS, json={**BODY, "stream": True}, headers={**KEY, "x-portkey-virtual-key": "vk"}
        )
    took = time.monotonic() - started
    data = sse.all_data(response.content)
    assert data[0] == CHUNK and len(data) == 2, data
    error = json.loads(data[1])["error"]
    assert (error["code"], error["type"]) == ("upstream_timeout", "timeout_error")
    assert took < 2.5


def test_validate_upstream_reports_a_broken_contract(gateway, scripted):
    scripted.script([{"body": {"id": "x", "object": "text_completion", "created": 0, "model": "m"}}])
    response = post(gateway, {"x-portkey-virtual-key": "vk-flaky"})
    assert response.status_code == 200
    assert "choices" in response.headers["x-portkey-upstream-violation"]
    scripted.script([])
    assert "x-portkey-upstream-violation" not in post(gateway, {"x-portkey-virtual-key": "vk-flaky"}).headers


def test_a_stream_is_passed_on_as_it_arrives(gateway, scripted):
    """Five events 0.3 s apart: the first reaches the caller long before the upstream is done."""
    events = [f"data: {json.dumps({'n': i})}" for i in range(5)] + ["data: [DONE]"]
    scripted.script([{"events": events, "interval": 0.3}])
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{gateway}{COMPLETIONS}",
        json={**BODY, "stream": True},
        headers={**KEY, "x-portkey-virtual-key": "vk-flaky"},
        timeout=10,
    ) as response:
        parts = response.iter_raw()
        first = next(parts)
        first_at = time.monotonic() - started
        rest = b"".join(parts)
        done_at = time.monotonic() - started
    assert first.startswith(b"data: ")
    assert first_at < 0.8 and done_at >= 1.4, (first_at, done_at)
    assert (first + rest).endswith(b"data: [DONE]\n\n")


def test_sigterm_ends_a_relayed_stream_cleanly(tmp_path, scripted):
    """A gateway told to stop, mid-way through relaying a slow upstream stream: the caller's stream
    ends at the next event with server_shutting_down, as the engine's do, instead of holding the
    shutdown until the upstream is done."""
    import signal

    path = calls.store_file(tmp_path, {"api_keys": ["pk-gw"], "providers": {"flaky": f"{scripted.url}{BASE}"}})
    scripted.script([{"events": [f"data: {CHUNK}"] * 40 + ["data: [DONE]"], "interval": 0.1}])
    started: list = []
    headers = {**KEY, "authorization": "Bearer sk", "x-portkey-provider": "flaky"}
    with serving.stub("--store", str(path), "--log-level", "warning", started=started) as url:
        data = []
        began = time.monotonic()
        with httpx.stream(
            "POST", f"{url}{COMPLETIONS}", json={**BODY, "stream": True}, headers=headers, timeout=10
        ) as response:
            for event in sse.iter_data(response.iter_bytes()):
                data.append(event)
                if len(data) == 2:
                    started[0].send_signal(signal.SIGTERM)
        took = time.monotonic() - began
        assert json.loads(data[-1])["error"]["code"] == "server_shutting_down", data[-3:]
        assert len(data) < 10 and took < 2.5  # the upstream would have taken 4 s
        assert started[0].wait(10) in (0, -signal.SIGTERM)
