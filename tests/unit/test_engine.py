"""The engine below HTTP: its distributions are real, and the sparse sampler matches dense arithmetic.

The sampler never looks at the 100k-token vocabulary per step. These tests do, once per case,
and compare: normalisation, logprobs, top-k, temperature, top_p, and sampling frequencies.
"""

from __future__ import annotations

import collections
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portkey_completions.engine.engine import Engine
from portkey_completions.engine.lm import Copying
from portkey_completions.engine.sampler import Sampler, Sampling
from portkey_completions.observe.metrics import Tokens
from portkey_completions.stub.plan import Plan
from portkey_completions.stub.render import complete
from support import declared

ENGINE = Engine()
MODEL = ENGINE.model
TOKENIZER = ENGINE.tokenizer
VOCABULARY = MODEL.vocabulary

PROMPT = TOKENIZER.encode("The model reads the prompt, and the model")
CONTEXTS = {
    "seen trigram, copying": (PROMPT[-2], PROMPT[-1], Copying(PROMPT)),
    "seen bigram only": (-1, TOKENIZER.encode(" the")[0], None),
    "unseen context": (-1, TOKENIZER.encode(" zxqv")[-1], None),
}


def dense(a, b, copying, sampling: Sampling, counts: dict[int, int]) -> dict[int, float]:
    """log softmax(logit') over the whole vocabulary, the textbook way."""
    dist = MODEL.distribution(a, b, copying)
    logits = {}
    for w in VOCABULARY:
        c = counts.get(w, 0)
        logits[w] = (
            math.log(dist.p(w))
            + sampling.logit_bias.get(w, 0.0)
            - c * sampling.frequency_penalty
            - (sampling.presence_penalty if c else 0.0)
        )
    top = max(logits.values())
    log_z = top + math.log(sum(math.exp(x - top) for x in logits.values()))
    return {w: x - log_z for w, x in logits.items()}


def _frequencies_match(reference: dict[int, float], seen: collections.Counter[int], draws: int) -> None:
    for w in sorted(reference, key=lambda w: (-reference[w], w))[:5]:
        p = reference[w]
        sigma = math.sqrt(draws * p * (1 - p))
        assert abs(seen[w] - draws * p) < 5 * sigma + 2, (TOKENIZER.labels[w], seen[w], draws * p)


def _tempered(reference: dict[int, float], temperature: float, top_p: float) -> dict[int, float]:
    """The dense reference at a temperature, cut to its nucleus: each token's probability."""
    weights = {w: math.exp(x / temperature) for w, x in reference.items()}
    ranked = sorted(weights, key=lambda w: (-weights[w], w))
    total = math.fsum(weights.values())
    nucleus, acc = [], 0.0
    for w in ranked:
        if acc >= top_p * total and nucleus:
            break
        nucleus.append(w)
        acc += weights[w]
    return {w: weights[w] / acc for w in nucleus}


@pytest.mark.parametrize("name", CONTEXTS)
def test_the_model_is_a_distribution_over_the_vocabulary(name):
    a, b, copying = CONTEXTS[name]
    dist = MODEL.distribution(a, b, copying)
    assert math.fsum(dist.p(w) for w in VOCABULARY) == pytest.approx(1.0, abs=1e-9)
    for w, p in dist.explicit().items():
        assert p == pytest.approx(dist.p(w))
    assert all(dist.p(w) > 0 for w in (0, 100256 - 1, TOKENIZER.eot))  # the floor: nothing is impossible


@pytest.mark.parametrize("name", CONTEXTS)
def test_fast_sampling_draws_from_the_model(name):
    a, b, copying = CONTEXTS[name]
    dist = MODEL.distribution(a, b, copying)
    rng = random.Random(1).random
    draws = 30_000
    seen = collections.Counter(MODEL.sample(a, b, copying, rng) for _ in range(draws))
    for w, count in seen.most_common(5):
        p = dist.p(w)
        sigma = math.sqrt(draws * p * (1 - p))
        assert abs(count - draws * p) < 5 * sigma + 1, (TOKENIZER.labels[w], count, draws * p)


SAMPLINGS = {
    "plain": Sampling(),
    "biased": Sampling(logit_bias={TOKENIZER.encode(" the")[0]: 5.0, TOKENIZER.encode(".")[0]: -100.0}),
    "penalised": Sampling(presence_penalty=1.5, frequency_penalty=0.5),
    "forced unseen": Sampling(logit_bias={4321: 100.0}),
}
COUNTS = {TOKENIZER.encode(" the")[0]: 2, TOKENIZER.encode(" model")[0]: 1}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("name", SAMPLINGS)
def test_logprobs_and_top_k_match_dense_arithmetic(context, name):
    a, b, copying = CONTEXTS[context]
    sampling = SAMPLINGS[name]
    reference = dense(a, b, copying, sampling, COUNTS)
    step = Sampler(MODEL, sampling).step
    top5 = sorted(reference, key=lambda w: (-reference[w], w))[:5]
    for w in (*top5, 0, TOKENIZER.eot):
        logprob = Sampler(MODEL, sampling).score(a, b, copying, w, None).logprob
        if not sampling.presence_penalty:  # score() is for prompt tokens: nothing sampled yet to penalise
            assert logprob == pytest.approx(reference[w], abs=1e-9)
    result = step(a, b, copying, COUNTS, random.Random(2).random, top=5)
    listed = [w for w, _ in result.top]
    assert listed[:5] == top5
    for w, lp in result.top:
        assert lp == pytest.approx(reference[w], abs=1e-9)


def test_named_top_k_is_the_listed_top_k_by_label_and_a_shared_one_is_never_changed():
    """`Step.named` is `Step.top` by label: made once per step and k, shared while the sampled token
    is among the k, and copied (not changed) when it is not."""
    a, b, copying = CONTEXTS["seen trigram, copying"]
    sampler = Sampler(MODEL, Sampling(temperature=0.7))
    labels = TOKENIZER.labels
    top = sampler.step(a, b, copying, {}, random.random, top=3).top
    inside, outside = top[0][0], next(w for w in VOCABULARY if w not in {w for w, _ in top})
    first = sampler.score(a, b, copying, inside, 3, labels)
    assert first.named == {labels[w]: lp for w, lp in first.top}
    assert sampler.score(a, b, copying, inside, 3, labels).named is first.named
    kept = dict(first.named)
    past = sampler.score(a, b, copying, outside, 3, labels)
    assert past.named == {labels[w]: lp for w, lp in past.top} and len(past.named) == 4
    assert first.named == kept  # the shared dict did not get the outside token
    assert sampler.score(a, b, copying, outside, 0, labels).named == {labels[outside]: past.logprob}


# 20,000 draws a case, each building the step's distribution: about 30 s in all, so `make
# test-unit` (the fast loop) leaves it to `make test`.
@pytest.mark.slow
@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.8])
@pytest.mark.parametrize("top_p", [1.0, 0.6])
def test_sampling_frequencies_match_temperature_and_nucleus(temperature, top_p):
    a, b, copying = CONTEXTS["seen bigram only"]
    sampling = Sampling(temperature=temperature, top_p=top_p, presence_penalty=0.7, logit_bias={13: 2.0})
    expected = _tempered(dense(a, b, copying, sampling, COUNTS), temperature, top_p)
    step = Sampler(MODEL, sampling).step
    rng = random.Random(3).random
    draws = 20_000
    seen = collections.Counter(step(a, b, copying, COUNTS, rng).token for _ in range(draws))
    if top_p < 1:
        assert set(seen) <= set(expected)
    _frequencies_match(expected, seen, draws)


def test_greedy_takes_the_most_likely_token():
    for a, b, copying in CONTEXTS.values():
        sampling = Sampling(temperature=0, frequency_penalty=1.0)
        reference = dense(a, b, copying, sampling, COUNTS)
        best = min(reference, key=lambda w: (-reference[w], w))
        assert Sampler(MODEL, sampling).step(a, b, copying, COUNTS, random.random).token == best


def test_best_of_keeps_the_candidates_with_the_highest_mean_logprob():
    body = {
        "model": "babbage-002",
        "prompt": ["The model", "Hello"],
        "n": 2,
        "best_of": 5,
        "seed": 11,
        "max_tokens": 12,
    }
    plan = Plan.from_body(body, ENGINE)
    expected = []
    for runs in plan.runs():
        texts = []
        for run in runs:
            text = "".join(p.text for p in run.pieces())
            texts.append((run.mean_logprob, text))
        texts.sort(key=lambda item: item[0], reverse=True)
        expected += [t for _, t in texts[:2]]
    assert [c["text"] for c in complete(plan, Tokens(ENGINE.models))["choices"]] == expected


@pytest.mark.parametrize("context", ["seen trigram, copying", "seen bigram only"])
@pytest.mark.parametrize("raised", [0.0, 1.0, 100.0])
def test_adjustments_at_temperature_1_sample_by_rejection_exactly(context, raised):
    """Bans, raised tokens and positive penalties at temperature 1 are sampled by rejection: same distribution."""
    a, b, copying = CONTEXTS[context]
    dist = MODEL.distribution(a, b, copying)
    likely = sorted(dist.explicit(), key=lambda w: -dist.p(w))[:3]
    bias = {likely[0]: -1.5, likely[2]: raised, 4321: raised, TOKENIZER.eot: -100}
    sampling = Sampling(presence_penalty=0.4, frequency_penalty=0.3, logit_bias=bias)
    assert sampling.by_rejection and not Sampler(MODEL, sampling).built
    reference = dense(a, b, copying, sampling, COUNTS)
    step = Sampler(MODEL, sampling).step
    rng = random.Random(4).random
    draws = 20_000
    seen = collections.Counter(step(a, b, copying, COUNTS, rng).token for _ in range(draws))
    assert TOKENIZER.eot not in seen
    _frequencies_match({w: math.exp(lp) for w, lp in reference.items()}, seen, draws)


def test_a_large_negative_penalty_does_not_overflow():
    """Found by `make fuzz`: frequency_penalty -2 on a token repeated a thousand times lifts its logit past exp()."""
    a, b, copying = CONTEXTS["seen bigram only"]
    repeated = {TOKENIZER.encode(" the")[0]: 1000}
    for sampling in (Sampling(frequency_penalty=-2.0, temperature=0.07, top_p=0.2), Sampling(frequency_penalty=-2.0)):
        step = Sampler(MODEL, sampling).step(a, b, copying, repeated, random.Random(5).random, top=3)
        assert step.token == TOKENIZER.encode(" the")[0]  # the lifted token takes all the mass
        assert step.logprob == pytest.approx(0.0, abs=1e-9)


def test_a_vanishing_temperature_is_greedy():
    """Found by `make fuzz`: temperature 5e-324 overflowed; below 1e-4 sampling is the argmax, as T -> 0 is."""
    a, b, copying = CONTEXTS["seen trigram, copying"]
    greedy = Sampler(MODEL, Sampling(temperature=0)).step(a, b, copying, {}, random.random).token
    for temperature in (5e-324, 1e-300, 1e-5):
        assert Sampler(MODEL, Sampling(temperature=temperature)).step(a, b, copying, {}, random.random).token == greedy


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["<|endoftext|>", "<|fim_prefix|>", "<|endof", "text|>", " the", "é", "\n", "x"])).map(
        "".join
    )
)
def test_the_tokenizer_reads_endoftext_as_the_special_token_and_other_special_text_as_text(text):
    """encode skips tiktoken's special-token scan when the text has no <|endoftext|>: the ids are the same."""
    assert TOKENIZER.encode(text) == TOKENIZER.encoding.encode(
        text, allowed_special={"<|endoftext|>"}, disallowed_special=()
    )


@declared("suffix")
def test_the_plan_builds_each_choice_field_by_field():
    """Candidate is built positionally on the hot path: each field read back by name pins the order.

    (Asked, the other positional record, is pinned by tests/unit/test_reading.py.)"""
    body = {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": ["one", "two"],
        "suffix": " end",
        "max_tokens": 9,
        "stop": ["\n"],
        "logprobs": 3,
        "n": 1,
        "best_of": 2,
        "seed": 11,
    }
    plan = Plan.from_body(body, ENGINE, text="forced")
    tokens = ENGINE.tokenizer.encode
    assert len(plan.choices) == 4  # two prompts, best_of 2 each
    first = plan.choices[3]
    assert first._asdict() == {
        "prompt": tuple(tokens("two")),
        "max_tokens": 9,
        "suffix": tuple(tokens(" end")),
        "stop": ("\n",),
        "logprobs": 3,
        "echo": False,
        "score": True,  # best_of > n: ranked
        "seed": "11:1:1",
        "forced": tuple(tokens("forced")),
    }
    echoed = Plan.from_body({"model": "gpt-3.5-turbo-instruct", "prompt": "x", "echo": True}, ENGINE).choices[0]
    assert (echoed.echo, echoed.score) == (True, False)  # the two neighbouring bools, apart


# A step at a temperature is prepared once per context and drawn from at every visit: each draw
# below after the first is one of those, in every kind of context (copying, trigram, bigram only).
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    "sampling",
    [
        Sampling(temperature=0.7),
        Sampling(temperature=0.7, top_p=0.9),
        Sampling(temperature=1.3, logit_bias={13: 2.0}),
        Sampling(temperature=0.5, presence_penalty=0.8, frequency_penalty=0.4),
    ],
    ids=["T0.7", "T0.7 top_p 0.9", "T1.3 raised", "T0.5 penalties"],
)
def test_prepared_draws_match_dense_arithmetic(context, sampling):
    a, b, copying = CONTEXTS[context]
    expected = _tempered(dense(a, b, copying, sampling, COUNTS), sampling.temperature, sampling.top_p)
    step = Sampler(MODEL, sampling).step
    rng = random.Random(6).random
    draws = 20_000
    seen = collections.Counter(step(a, b, copying, COUNTS, rng).token for _ in range(draws))
    assert set(seen) <= set(expected) or sampling.top_p >= 1
    _frequencies_match(expected, seen, draws)


@pytest.mark.parametrize("context", CONTEXTS)
def test_greedy_under_penalties_moves_off_a_sampled_argmax(context):
    """A prepared argmax stands while it was not sampled; once it was, the penalised step decides."""
    a, b, copying = CONTEXTS[context]
    sampling = Sampling(temperature=0, presence_penalty=2.0, frequency_penalty=2.0)
    sampler = Sampler(MODEL, sampling)
    first = sampler.step(a, b, copying, {}, random.random).token
    counts = {first: 3}
    reference = dense(a, b, copying, sampling, counts)
    best = min(reference, key=lambda w: (-reference[w], w))
    assert best != first
    assert sampler.step(a, b, copying, counts, random.random).token == best


def test_a_step_is_prepared_once_per_sampler_and_trained_context():
    sampler = Sampler(MODEL, Sampling(temperature=0.7))
    a, b, copying = CONTEXTS["seen trigram, copying"]
    assert sampler.prepared(a, b, copying) is sampler.prepared(a, b, Copying(PROMPT))
    # A context the training text never had shares its ending token's step, whatever came before.
    unseen = TOKENIZER.encode(" zxqv")[-1]
    the = TOKENIZER.encode(" the")[0]
    assert sampler.prepared(unseen, the, None) is sampler.prepared(unseen + 1, the, None)
    assert sampler.prepared(unseen, the, None) is not sampler.prepared(unseen, the, copying)


def test_prepared_steps_are_bounded_and_the_oldest_go_first(monkeypatch):
    from portkey_completions.engine import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "_STEPS", {})
    monkeypatch.setattr(sampler_module, "_MAX_STEPS", 8)
    sampler = Sampler(MODEL, Sampling(temperature=0.7))
    endings = sorted(MODEL.bigrams)[:20]
    first = sampler.prepared(-1, endings[0], None)
    for b in endings:
        sampler.prepared(-1, b, None)
        assert len(sampler_module._STEPS) <= 8
    assert sampler.prepared(-1, endings[-1], None) is sampler.prepared(-1, endings[-1], None)
    assert sampler.prepared(-1, endings[0], None) is not first  # dropped, then made again
