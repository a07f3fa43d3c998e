"""Turning the model's distribution into a token: the request's sampling parameters, applied exactly.

OpenAI's definitions, on logits (log-probabilities):

    logit'(w) = logit(w) + logit_bias[w] - count[w] * frequency_penalty - (count[w] > 0) * presence_penalty

where count[w] is how often w was sampled so far in this choice; then softmax(logit' / temperature),
cut to the nucleus of mass top_p. Temperature 0 is greedy (ties go to the lowest id).

Only the tokens the model names explicitly, or the request touches (bias, penalties), get their
own logit. Every other token has rest * background(w), so the sum over the 100k-token vocabulary
is the background's total at that temperature (cached per temperature) minus what the named
tokens take of it. Nothing here loops over the vocabulary per step, and a step is made once per
sampler and context (`Prepared`), then drawn from at every visit; penalties, which change at
every token, are applied on top by rejection where that is exact.

Reported logprobs are log softmax(logit') at temperature 1 without top_p: the model as the
request shaped it, not the sampler's temperature.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from .lm import STRIDE, Copying, Distribution, NGramModel, Random, key, trained_context
from .ranking import Ranking
from .tempered import Draws, tempered
from .tempered import prepare as tempered_draws


class Sampling(NamedTuple):
    """How to pick each token."""

    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Mapping[int, float] = MappingProxyType({})

    @property
    def by_rejection(self) -> bool:
        """At temperature 1, no nucleus, penalties that only lower: a draw from the model is exact,
        once raised tokens are given their extra weight and lowered ones kept by chance (`_rejecting`)."""
        return self.temperature == 1 and self.top_p >= 1 and self.presence_penalty >= 0 and self.frequency_penalty >= 0

    @property
    def unadjusted(self) -> bool:
        """The model's own distribution: sample it directly, without naming any token."""
        return (
            self.temperature == 1
            and self.top_p >= 1
            and not self.presence_penalty
            and not self.frequency_penalty
            and not self.logit_bias
        )


class Step(NamedTuple):
    token: int
    logprob: float | None  # set when asked for logprobs or a score
    top: tuple[tuple[int, float], ...] | None  # the k most likely tokens (and the sampled one), when asked
    named: dict[str, float] | None = None  # `top` by label, when asked with labels: shared, never to be changed


class _View:
    """One step's logits, for a draw at a temperature or from a nucleus: those of named tokens, and the
    rule for every other token. (Logprobs, the top k and greedy picks are `ranking.Ranking`'s.)"""

    def __init__(self, dist: Distribution, sampling: Sampling, counts: Mapping[int, int]) -> None:
        model = self.model = dist.model
        p = dist.explicit()
        bias = sampling.logit_bias
        freq, presence = sampling.frequency_penalty, sampling.presence_penalty
        touched = p.keys() | bias.keys() | (counts.keys() if freq or presence else set())
        self.log_rest = math.log(dist.rest)
        logits = {}
        for w in touched:
            pw = p.get(w) or dist.rest * model.background(w)
            c = counts.get(w, 0)
            logits[w] = math.log(pw) + bias.get(w, 0.0) - c * freq - (presence if c else 0.0)
        self.logits = logits

    def background_logit(self, w: int) -> float:
        return self.log_rest + math.log(self.model.background(w))

    def untouched(self) -> Iterator[int]:
        """Tokens without their own logit, most likely first."""
        logits = self.logits
        yield from (w for w in self.model.ranked if w not in logits)
        seen = self.model.seen
        yield from (w for w in self.model.vocabulary if w not in seen and w not in logits)

    def prepare(self, temperature: float, top_p: float) -> Draws:
        model = self.model
        curve = tempered(model, temperature)
        named = sorted(self.logits.items(), key=lambda item: (-item[1], item[0]))
        head = next(self.untouched(), None)
        head_logit = -math.inf if head is None else self.background_logit(head)
        # Weights relative to the largest logit, so that no temperature overflows.
        top = max(named[0][1] if named else -math.inf, head_logit)
        weighted = [(w, math.exp((x - top) / temperature)) for w, x in named]
        untouched, h = 0.0, len(model.ranked)
        if head is not None:
            h = model.rank.get(head, h)
            # The untouched tokens' tempered mass: from the most likely of them, less the touched ones.
            untouched = math.exp((self.log_rest - top) / temperature + curve.log_mass(h, self.logits))
        if top_p < 1:
            total = sum(weight for _, weight in weighted) + untouched
            return self._nucleus(weighted, top, temperature, total * top_p)
        return Draws(weighted, untouched, curve=curve if untouched > 0 else None, h=h, excluded=self.logits)

    def _nucleus(self, named: list[tuple[int, float]], top: float, temperature: float, mass: float) -> Draws:
        """The most likely tokens whose weights first reach `mass` (at least one token)."""
        model = self.model
        chosen: list[tuple[int, float]] = []
        acc = 0.0
        i = 0
        others = self.untouched()
        other = next(others, None)
        floor = 0.0
        while acc < mass or not chosen:
            other_weight = None
            if other is not None and other in model.seen:
                other_weight = math.exp((self.background_logit(other) - top) / temperature)
            if i < len(named) and (other_weight is None or named[i][1] >= other_weight):
                chosen.append(named[i])
                acc += named[i][1]
                i += 1
            elif other is not None and other_weight is not None:
                chosen.append((other, other_weight))
                acc += other_weight
                other = next(others, None)
            else:
                if other is not None:  # only the evenly spread floor is left: it joins whole
                    n = len(model.vocabulary) - len(model.ranked) - sum(w not in model.seen for w in self.logits)
                    floor = n * math.exp((self.log_rest + math.log(model.floor) - top) / temperature)
                break
        return Draws(chosen, floor, floor=model if floor > 0 else None, excluded=self.logits)


# Below this temperature sampling is greedy (found by `make fuzz`: T = 5e-324 overflowed).
MIN_TEMPERATURE = 1e-4
# Refusals before rejection sampling gives way to the built distribution (banned tokens hold the mass).
_TRIES = 32
# The most tokens a prepared step keeps for its draws (a nucleus at a high temperature has thousands).
_KEPT = 1024

Draw = Callable[[int, int, Copying | None, Mapping[int, int], Random], int]


class Sampler:
    def __init__(self, model: NGramModel, sampling: Sampling) -> None:
        self.model = model
        self.sampling = sampling
        self.serial = next(_serials)  # names its prepared steps (_STEPS)
        # Softmax at T -> 0 is the argmax; a temperature this small would only overflow on the way there.
        self.greedy = sampling.temperature < MIN_TEMPERATURE
        self.unadjusted = sampling.unadjusted
        self.built = not sampling.unadjusted and not sampling.by_rejection
        self.raises = any(v > 0 for v in sampling.logit_bias.values())
        # Whether the tokens sampled so far (counts) change the next one: penalties only.
        self.penalised = bool(sampling.presence_penalty or sampling.frequency_penalty)
        # Penalties that only lower: a prepared argmax or draw stays exact under them (`_built`).
        self.rejects_penalties = (
            sampling.presence_penalty >= 0 and sampling.frequency_penalty >= 0 and (self.greedy or sampling.top_p >= 1)
        )
        # How a bare token is drawn is decided once, not at every token: a completion that only
        # wants text calls `draw` per token and nothing else (16 tokens: 34 -> 21 us).
        self.draw: Draw = (
            self._draw_own if self.unadjusted else _built(self, sampling) if self.built else _rejecting(self, sampling)
        )

    def step(
        self,
        a: int,
        b: int,
        copying: Copying | None,
        counts: Mapping[int, int],
        random: Random,
        *,
        top: int | None = None,
        score: bool = False,
        labels: Sequence[str] | None = None,
    ) -> Step:
        """Sample the token after `a b`; with `score`, also its logprob; with `top`, also the `top` most
        likely, and with `labels` (tokens' names by id) those by name."""
        w = self.draw(a, b, copying, counts, random)
        if top is None and not score:
            return Step(w, None, None)
        if self.penalised and counts:
            ranking = self._ranking(a, b, copying, counts)  # the penalties differ at every step
        else:
            ranking = self.prepared(a, b, copying).ranking
        return Step(w, *ranking.scored(w, top, labels))

    def prepared(self, a: int, b: int, copying: Copying | None) -> Prepared:
        """The step after `a b` as this sampler shapes it before any penalty: made once per context."""
        k = a * STRIDE + b
        if copying is None or (k not in copying.trigrams and b not in copying.bigrams):
            # Most steps: the prompt copies nothing here. Keys are ints only, which the garbage
            # collector does not visit (a sampler is named by its serial). The context's key is
            # that of `lm.trained_context`, inlined: this runs at every token.
            found = _STEPS.get((self.serial, k if k in self.model.trigrams else b - STRIDE))
            if found is not None:
                return found
        return self._prepare(a, b, copying)

    def _prepare(self, a: int, b: int, copying: Copying | None) -> Prepared:
        k = key(a, b)
        trigram = bigram = None
        if copying is not None:
            copied = copying.trigrams.get(k)
            trigram = tuple(copied) if copied is not None else None
            copied = copying.bigrams.get(b)
            bigram = tuple(copied) if copied is not None else None
        a = trained_context(self.model, a, b)
        k = key(a, b)
        found_key = (self.serial, k) if trigram is None and bigram is None else (self.serial, k, trigram, bigram)
        found = _STEPS.get(found_key)
        if found is None:
            if len(_STEPS) >= _MAX_STEPS:
                del _STEPS[next(iter(_STEPS))]  # the oldest
            found = _STEPS[found_key] = Prepared(self, a, b, trigram, bigram)
        return found

    def _ranking(self, a: int, b: int, copying: Copying | None, counts: Mapping[int, int]) -> Ranking:
        sampling = self.sampling
        bias, freq, presence = sampling.logit_bias, sampling.frequency_penalty, sampling.presence_penalty
        trigram = bigram = None
        if copying is not None:
            trigram, bigram = copying.trigrams.get(key(a, b)), copying.bigrams.get(b)
        return Ranking(self.model, a, b, trigram, bigram, bias, counts, freq, presence)

    def _draw_own(self, a: int, b: int, copying: Copying | None, counts: Mapping[int, int], random: Random) -> int:
        """The model's own distribution: sampled directly, without naming any token."""
        return self.model.sample(a, b, copying, random)

    def _draw_penalised(
        self, a: int, b: int, copying: Copying | None, counts: Mapping[int, int], random: Random
    ) -> int:
        """The step built with the penalties so far: from the ranking where that is quick, else whole."""
        ranking = self._ranking(a, b, copying, counts)
        if self.greedy:
            return ranking.greedy()
        temperature, top_p = self.sampling.temperature, self.sampling.top_p
        draws = tempered_draws(ranking, temperature, top_p)
        w = draws.draw(random) if draws is not None else None
        if w is None:
            view = _View(self.model.distribution(a, b, copying), self.sampling, counts)
            w = view.prepare(temperature, top_p).draw(random)
        assert w is not None  # a built step's rest never gives up
        return w

    def score(
        self, a: int, b: int, copying: Copying | None, w: int, top: int | None, labels: Sequence[str] | None = None
    ) -> Step:
        """How likely the model found a given token (an echoed prompt token): logprob, top, and top by name."""
        return Step(w, *self.prepared(a, b, copying).ranking.scored(w, top, labels))


class Prepared:
    """One context's step as a sampler shapes it, before penalties: its ranking, and its argmax or its draws."""

    __slots__ = ("draws", "raised", "ranking", "token")

    def __init__(
        self, sampler: Sampler, a: int, b: int, trigram: tuple[int, ...] | None, bigram: tuple[int, ...] | None
    ) -> None:
        sampling, model = sampler.sampling, sampler.model
        self.ranking = Ranking(model, a, b, trigram, bigram, sampling.logit_bias, {}, 0.0, 0.0)
        self.token = self.ranking.greedy() if sampler.greedy else -1
        self.draws: Draws | None = None
        # A rejecting sampler's raised tokens (logit_bias > 0), by their weight past the model's own.
        self.raised: Draws | None = None
        if sampler.raises and not sampler.built:
            extra = [(w, self.ranking.p(w) * math.expm1(v)) for w, v in sorted(sampling.logit_bias.items()) if v > 0]
            self.raised = Draws(extra)
        if sampler.built and not sampler.greedy:
            temperature, top_p = sampling.temperature, sampling.top_p
            draws = tempered_draws(self.ranking, temperature, top_p)
            if draws is None:
                copying = Copying.at(a, b, trigram, bigram)
                draws = _View(model.distribution(a, b, copying), sampling, {}).prepare(temperature, top_p)
            # A nucleus of thousands of tokens (a high temperature) is built at each step rather than kept.
            self.draws = draws if len(draws) <= _KEPT else None


# Prepared steps, by sampler serial and context (its trained part, and what the prompt copies
# there), the oldest dropped first. The corpus has a few thousand trained contexts; a step is
# about 1.5 kB (its draws keep at most _KEPT tokens): some 25 MB at most.
_STEPS: dict[tuple[int | tuple[int, ...] | None, ...], Prepared] = {}
_MAX_STEPS = 16384
_serials = itertools.count()


def _built(sampler: Sampler, sampling: Sampling) -> Draw:
    """Temperature, top_p, raised logits, or the argmax: from the context's prepared step.

    Penalties only lower the tokens already sampled, so a draw from the step before them, kept
    with probability exp(penalty / T), is exact; so is the argmax when it was not sampled yet.
    A nucleus depends on them (its edge moves): that step is built with them. A closure, as
    `_rejecting`: the engine's hot loop.
    """
    prepared, built = sampler.prepared, sampler._draw_penalised
    greedy, penalised, rejects = sampler.greedy, sampler.penalised, sampler.rejects_penalties
    temperature, freq, presence = sampling.temperature, sampling.frequency_penalty, sampling.presence_penalty
    exp = math.exp

    def draw(a: int, b: int, copying: Copying | None, counts: Mapping[int, int], random: Random) -> int:
        if penalised and counts and not rejects:
            return built(a, b, copying, counts, random)
        found = prepared(a, b, copying)
        if greedy:
            return built(a, b, copying, counts, random) if penalised and counts.get(found.token) else found.token
        draws = found.draws
        if draws is not None:
            for _ in range(_TRIES):
                w = draws.draw(random)
                if w is None:
                    break
                if not penalised:
                    return w
                c = counts.get(w)
                if not c or random() < exp(-(c * freq + presence) / temperature):
                    return w
        return built(a, b, copying, counts, random)

    return draw


def _rejecting(sampler: Sampler, sampling: Sampling) -> Draw:
    """Draw from the model, raised tokens given their extra weight, and keep w with probability
    exp(lowering(w)) <= 1: exactly softmax(logit') at temperature 1.

    A token with logit_bias b > 0 is also proposed on its own, with weight P(w) (e^b - 1) beside
    the model's 1 (`Prepared.raised`, once per context): proposed with P(w) e^max(b, 0) in all,
    kept with e^(min(b, 0) - penalty). Banning <|endoftext|>, raising a token or penalising repeats
    then costs a draw or two instead of building the step's distribution. After _TRIES refusals
    (lowered tokens hold the mass) the step is built. A closure, because this is the engine's hot
    loop: its constants are locals, not attributes.
    """
    sample, built, penalised = sampler.model.sample, sampler._draw_penalised, sampler.penalised
    bias, freq, presence = sampling.logit_bias, sampling.frequency_penalty, sampling.presence_penalty
    find = sampler.prepared if sampler.raises else None
    exp = math.exp

    def draw(a: int, b: int, copying: Copying | None, counts: Mapping[int, int], random: Random) -> int:
        raised = None if find is None else find(a, b, copying).raised
        tries = 0
        while True:
            if raised is not None and (r := random() * (1.0 + raised.explicit_total)) >= 1.0:
                w = raised.pick(r - 1.0)
            else:
                w = sample(a, b, copying, random)
            # Most draws name a token nothing adjusts: kept at once (a 16-token whole(): 23.3 -> 19.5 us).
            if w not in bias and not (penalised and w in counts):
                return w
            lowered = min(bias.get(w, 0.0), 0.0)
            if penalised:
                c = counts.get(w, 0)
                if c:
                    lowered = lowered - c * freq - presence
            if lowered == 0 or random() < exp(lowered):
                return w
            tries += 1
            if tries == _TRIES:
                return built(a, b, copying, counts, random)

    return draw
