"""Draws at a temperature, and from a nucleus (top_p), without building the step's distribution.

At temperature T a token weighs exp(logit'(w) / T). Every token but the few a step makes explicit
(copied from the prompt, adjusted by logit_bias or penalties; `ranking.Ranking`) weighs
scale^(1/T) times its weight in the context's trained part, so the trained part at T is made once
per context and temperature (`_Part`): its named tokens' cumulative weights, and the tempered
background's mass past them. A draw picks the explicit tokens or the rest by their totals, and
within the rest draws from the trained part, redrawing a token that is explicit. top_p walks the
explicit tokens and the trained part's ranking (`lm.Static.top`) by weight until the nucleus holds
its mass. Where these would take long (explicit tokens holding nearly all the mass, a nucleus of
hundreds of tokens) the caller builds the distribution instead (`None`).
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math

from .lm import NGramModel, Random, Static
from .ranking import Ranking

_TRIES = 32  # redraws of explicit tokens before the step's distribution is built instead
_MAX_NUCLEUS = 1024  # tokens of the trained ranking walked for a nucleus before building instead


class Tempered:
    """The background raised to 1/T, as log suffix sums over its ranking.

    suffix[i] = log sum of background(w) ** (1/T) over ranked[i:], the evenly spread floor last
    (at index len(ranked)). Suffix sums keep a low temperature from underflowing: the mass of the
    untouched tokens is taken from the most likely of them downwards, never as a difference of
    two nearly equal totals.
    """

    def __init__(self, model: NGramModel, temperature: float) -> None:
        logs = [math.log(model.seen[w]) / temperature for w in model.ranked]
        n_unseen = len(model.vocabulary) - len(model.ranked)
        logs.append(math.log(model.floor) / temperature + math.log(n_unseen) if n_unseen else -math.inf)
        suffix = [-math.inf] * (len(logs) + 1)
        for i in range(len(logs) - 1, -1, -1):
            suffix[i] = _logaddexp(suffix[i + 1], logs[i])
        self.suffix = suffix
        self.negated = [-x for x in suffix]  # increasing, for bisect


def _logaddexp(x: float, y: float) -> float:
    if x < y:
        x, y = y, x
    return x if y == -math.inf else x + math.log1p(math.exp(y - x))


@functools.lru_cache(maxsize=32)
def tempered(model: NGramModel, temperature: float) -> Tempered:
    return Tempered(model, temperature)


class _Part:
    """A context's trained part at temperature T, weights relative to its most likely token's."""

    def __init__(self, static: Static, temperature: float) -> None:
        model = static.model
        self.model, self.static, self.temperature = model, static, temperature
        self.log_top = math.log(static.top(1)[0][0])
        named = sorted({w for _, f in static.parts for w in f.counts})
        self.named, self.named_set = named, frozenset(named)
        weights = [math.exp((math.log(static.p(w)) - self.log_top) / temperature) for w in named]
        self.cumulative = list(itertools.accumulate(weights))
        named_total = self.cumulative[-1] if named else 0.0
        # The unnamed tokens' tempered background mass, from the first unnamed rank down (see Tempered).
        curve = self.curve = tempered(model, temperature)
        ranked, rank = model.ranked, model.rank
        h = 0
        while h < len(ranked) and ranked[h] in self.named_set:
            h += 1
        self.h = h
        taken = 0.0
        for w in named:
            if rank[w] >= h:
                taken += math.exp(math.log(model.seen[w]) / temperature - curve.suffix[h])
        log_mass = curve.suffix[h] + math.log(max(1.0 - taken, 1e-300))
        self.unnamed_total = math.exp((math.log(static.rest) - self.log_top) / temperature + log_mass)
        self.named_total = named_total
        self.total = named_total + self.unnamed_total

    def weight(self, w: int) -> float:
        return math.exp((math.log(self.static.p(w)) - self.log_top) / self.temperature)

    def draw(self, random: Random) -> int:
        """A token by its weight in the trained part at T."""
        r = random() * self.total
        if r < self.named_total:
            return self.named[min(bisect.bisect_right(self.cumulative, r), len(self.named) - 1)]
        model, curve, h = self.model, self.curve, self.h
        ranked = model.ranked
        while True:  # inverse CDF of the tempered background from rank h, redrawing named tokens
            target = curve.suffix[h] + math.log1p(-random())
            i = bisect.bisect_right(curve.negated, -target, lo=h) - 1
            w = ranked[i] if i < len(ranked) else _unseen(model, random)
            if w not in self.named_set:
                return w


def _unseen(model: NGramModel, random: Random) -> int:
    vocabulary, seen = model.vocabulary, model.seen
    while True:
        w = vocabulary[int(random() * len(vocabulary))]
        if w not in seen:
            return w


@functools.lru_cache(maxsize=16384)
def _part(static: Static, temperature: float) -> _Part:
    return _Part(static, temperature)


def draw(ranking: Ranking, temperature: float, top_p: float, random: Random) -> int | None:
    """A token from softmax(logit' / T), cut to the nucleus of mass top_p; None where building is cheaper."""
    part = _part(ranking.static, temperature)
    explicit = {w: ranking.logit(w) for w in itertools.chain(ranking.copied, ranking.adjust)}
    base = math.log(ranking.scale) + part.log_top  # the trained part's most likely token's logit
    top = max(base, max(explicit.values(), default=-math.inf))
    factor = math.exp((base - top) / temperature)  # the trained part's weights, relative to `top`
    weights = {w: math.exp((x - top) / temperature) for w, x in explicit.items()}
    explicit_total = sum(weights.values())
    rest_total = factor * max(0.0, part.total - sum(part.weight(w) for w in explicit))
    if top_p < 1:
        return _nucleus(ranking, part, weights, factor, top_p * (explicit_total + rest_total), random)
    r = random() * (explicit_total + rest_total)
    if r < explicit_total:
        for w, weight in weights.items():
            if r < weight:
                return w
            r -= weight
        return next(reversed(weights))
    for _ in range(_TRIES):
        w = part.draw(random)
        if w not in weights:
            return w
    return None


def _nucleus(
    ranking: Ranking, part: _Part, weights: dict[int, float], factor: float, mass: float, random: Random
) -> int | None:
    """Among the most likely tokens whose weights first reach `mass` (at least one), one by weight."""
    first = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    n = 16
    while n <= _MAX_NUCLEUS:
        head = ranking.static.top(n)
        rest = [(w, factor * math.exp((math.log(p) - part.log_top) / part.temperature)) for p, w in head]
        rest = [(w, weight) for w, weight in rest if w not in weights]
        chosen, acc, left = [], 0.0, len(rest)
        for w, weight in heapq.merge(first, rest, key=lambda item: (-item[1], item[0])):
            chosen.append((w, weight))
            acc += weight
            if w not in weights:
                left -= 1
            if acc >= mass:
                break
        # Exact only if no token past the head could weigh more than the last one taken.
        if acc >= mass and (left > 0 or len(head) < n):
            r = random() * acc
            for w, weight in chosen:
                if r < weight:
                    return w
                r -= weight
            return chosen[-1][0]
        n *= 4
    return None
