"""What a completion response holds, in-process: choices, order, usage, echo, stop, prompt forms."""

from __future__ import annotations

import json

import pytest

from portkey_completions.core import sse
from support import AUTH, BODY, COMPLETIONS, NO_END
from support.calls import complete


def test_shape(client):
    body = complete(client)
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["model"] == BODY["model"]
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] == 5  # "Say this is a test" in cl100k
    assert 1 <= usage["completion_tokens"] <= 7
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["system_fingerprint"].startswith("fp_")


@pytest.mark.parametrize(
    ("prompt", "prompts"),
    [
        ("one", 1),
        (["one", "two", "three"], 3),
        ([1212, 318, 257], 1),
        ([[1212, 318], [257], [1332, 13]], 3),
        (None, 1),
    ],
)
def test_a_choice_for_every_prompt_times_n(client, prompt, prompts):
    body = complete(client, prompt=prompt, n=2)
    assert [c["index"] for c in body["choices"]] == list(range(prompts * 2))


def test_choice_order_is_prompt_index_times_n_plus_j(client):
    body = complete(client, prompt=["first prompt", "second prompt"], n=2, echo=True, max_tokens=1)
    texts = [c["text"] for c in body["choices"]]
    assert [t.startswith("first prompt") for t in texts] == [True, True, False, False]
    assert all(t.startswith("second prompt") for t in texts[2:])


def test_usage_counts_each_prompt_once_and_every_choice(client):
    # temperature 0: the three choices are the one choice, three times
    one = complete(client, prompt="a b c", n=1, max_tokens=3)["usage"]
    three = complete(client, prompt="a b c", n=3, max_tokens=3)["usage"]
    assert three["prompt_tokens"] == one["prompt_tokens"] == 3
    assert three["completion_tokens"] == 3 * one["completion_tokens"] > 0


def test_empty_prompt_list_gives_no_choices(client):
    body = complete(client, prompt=[])
    assert body["choices"] == []
    assert body["usage"]["completion_tokens"] == 0


def test_max_tokens_zero(client):
    [choice] = complete(client, max_tokens=0)["choices"]
    assert choice["text"] == ""
    assert choice["finish_reason"] == "length"


def test_max_tokens_null_runs_to_a_natural_stop(client):
    body = complete(client, max_tokens=None, temperature=1, seed=7)
    # null leaves 4091 tokens of the window: the model ends the text (<|endoftext|>) long before
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] < 4091


def test_echo_prepends_the_prompt(client):
    [choice] = complete(client, echo=True)["choices"]
    assert choice["text"].startswith(BODY["prompt"])
    assert len(choice["text"]) > len(BODY["prompt"])


def test_stop_sequence_ends_the_text_before_it(client):
    body = {"max_tokens": 60, "temperature": 1, "seed": 1, "logit_bias": NO_END}  # 60 tokens: words to stop at
    full = complete(client, **body)["choices"][0]["text"]
    word = full.split()[3]
    [choice] = complete(client, **body, stop=[word])["choices"]
    assert choice["finish_reason"] == "stop"
    assert word not in choice["text"]
    assert full.startswith(choice["text"])


def test_same_seed_same_text(client):
    a = complete(client, seed=42, max_tokens=30, temperature=1.5, n=3)["choices"]
    b = complete(client, seed=42, max_tokens=30, temperature=1.5, n=3)["choices"]
    c = complete(client, seed=43, max_tokens=30, temperature=1.5, n=3)["choices"]
    assert a == b
    assert a != c


def test_explicit_nulls_take_the_spec_defaults(client):
    body = complete(client, n=None, echo=None, best_of=None, stop=None, stream=None, logprobs=None)
    assert len(body["choices"]) == 1
    assert complete(client, n=3, best_of=None)["choices"][2]["index"] == 2  # best_of null means n


def test_stream_in_process_is_sse(client):
    response = client.post(COMPLETIONS, json={**BODY, "stream": True, "n": 2}, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse.all_data(response.content)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
        assert [c["finish_reason"] for c in mine[:-1]] == [None] * (len(mine) - 1)
        assert mine[-1]["finish_reason"] in ("stop", "length")


def test_every_streamed_chunk_conforms_to_the_chunk_schema(client):
    """schemathesis cannot see inside SSE `data` under OpenAPI 3.0; this checks each chunk instead."""
    from connexion.json_schema import Draft4ResponseValidator, resolve_refs

    from portkey_completions.core.spec import load as load_spec

    schemas = resolve_refs(load_spec())["components"]["schemas"]
    chunk_schema = Draft4ResponseValidator(schemas["CreateCompletionChunk"])
    body = {
        **BODY,
        "stream": True,
        "n": 3,
        "prompt": ["a", "b"],
        "echo": True,
        "stream_options": {"include_usage": True},
    }
    response = client.post(COMPLETIONS, json=body, headers=AUTH)
    events = sse.all_data(response.content)
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        assert [e.message for e in chunk_schema.iter_errors(json.loads(event))] == [], event


def test_user_is_recorded_with_the_completion(client, caplog):
    with caplog.at_level("DEBUG", logger="portkey_completions.stub.plan"):
        body = complete(client, user="user-1234")
    [line] = [r for r in caplog.records if body["id"] in r.getMessage()]
    assert "user=user-1234" in line.getMessage()
    assert f"completion_tokens={body['usage']['completion_tokens']}" in line.getMessage()
