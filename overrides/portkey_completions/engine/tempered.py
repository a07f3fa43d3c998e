"""Draws at a temperature, and from a nucleus (top_p), without building the step's distribution.

At temperature T a token weighs exp(logit'(w) / T). Every token but the few a step makes explicit
(copied from the prompt, adjusted by logit_bias or penalties, or named by the context's trigram)
weighs one factor times its weight in the bigram mixture at T (`lm.Mixture`), which is made once
per ending token and temperature (`_Part`, shared by every context ending in that token): its
named tokens' cumulative weights, and the tempered background's mass past them. A draw picks the
explicit tokens or the rest by their totals, and within the rest draws from the mixture, redrawing
a token that is explicit. top_p walks the explicit tokens and the context's ranking
(`lm.Static.top`) by weight until the nucleus holds its mass. Where these would take long
(explicit tokens holding nearly all the mass, a nucleus of hundreds of tokens) the caller builds
the distribution instead (`None`).
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
from collections.abc import Container, Iterable, Sequence

from .lm import Mixture, NGramModel, Random
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
        self.model, self.temperature = model, temperature
        logs = [math.log(model.seen[w]) / temperature for w in model.ranked]
        n_unseen = len(model.vocabulary) - len(model.ranked)
        logs.append(math.log(model.floor) / temperature + math.log(n_unseen) if n_unseen else -math.inf)
        suffix = [-math.inf] * (len(logs) + 1)
        for i in range(len(logs) - 1, -1, -1):
            suffix[i] = _logaddexp(suffix[i + 1], logs[i])
        self.suffix = suffix
        self.negated = [-x for x in suffix]  # increasing, for bisect

    def log_mass(self, h: int, excluded: Iterable[int]) -> float:
        """log of the tempered background over ranked[h:] and the floor, less the excluded tokens there.

        Taken from the suffix at h, the most likely of them downwards, less at most len(excluded)
        heads' worth: no difference of two nearly equal totals.
        """
        model, end = self.model, len(self.model.ranked)
        taken = 0.0
        for w in excluded:
            if model.rank.get(w, end) >= h:
                taken += math.exp(math.log(model.background(w)) / self.temperature - self.suffix[h])
        return self.suffix[h] + math.log(max(1.0 - taken, 1e-300))

    def draw(self, h: int, excluded: Container[int], random: Random) -> int:
        """Inverse-CDF draw from the tempered background over ranked[h:] and the floor, redrawing excluded tokens."""
        ranked = self.model.ranked
        while True:
            target = self.suffix[h] + math.log1p(-random())
            i = bisect.bisect_right(self.negated, -target, lo=h) - 1
            w = ranked[i] if i < len(ranked) else unseen(self.model, random)
            if w not in excluded:
                return w


def unseen(model: NGramModel, random: Random) -> int:
    """A token of the evenly spread floor: one the training text never had."""
    vocabulary, seen = model.vocabulary, model.seen
    while True:
        w = vocabulary[int(random() * len(vocabulary))]
        if w not in seen:
            return w


def _logaddexp(x: float, y: float) -> float:
    if x < y:
        x, y = y, x
    return x if y == -math.inf else x + math.log1p(math.exp(y - x))


@functools.lru_cache(maxsize=32)
def tempered(model: NGramModel, temperature: float) -> Tempered:
    return Tempered(model, temperature)


class _Part:
    """A bigram mixture (`lm.Mixture`) at temperature T, weights relative to its most likely token's."""

    def __init__(self, mixture: Mixture, temperature: float) -> None:
        model = mixture.model
        self.model, self.mixture, self.temperature = model, mixture, temperature
        self.log_top = math.log(mixture.head(1)[0][0])
        named = sorted(mixture.followers.counts) if mixture.followers is not None else []
        named_set = frozenset(named)
        weighted = [(w, math.exp((math.log(mixture.p(w)) - self.log_top) / temperature)) for w in named]
        # The unnamed tokens' tempered background mass, from the first unnamed rank down.
        curve = tempered(model, temperature)
        ranked = model.ranked
        h = 0
        while h < len(ranked) and ranked[h] in named_set:
            h += 1
        log_mass = curve.log_mass(h, named)
        unnamed_total = math.exp((math.log(mixture.rest) - self.log_top) / temperature + log_mass)
        # Its followers by cumulative weight, then the tempered background past them.
        self.draws = Draws(weighted, unnamed_total, curve=curve, h=h, excluded=named_set)
        self.total = self.draws.total
        self.draw = self.draws.draw  # a token by its weight in the mixture at T

    def weight(self, w: int) -> float:
        return math.exp((math.log(self.mixture.p(w)) - self.log_top) / self.temperature)


# Per ending token and temperature: the corpus's few thousand ending tokens, a few temperatures.
@functools.lru_cache(maxsize=16384)
def _part(mixture: Mixture, temperature: float) -> _Part:
    return _Part(mixture, temperature)


class Draws:
    """A step's distribution at T, made once and drawn from many times.

    Its explicit tokens by cumulative weight (`explicit_total` of `total`), then the rest of the
    mass, one of: a mixture's draw less the explicit tokens (`part`; after _TRIES redraws it gives
    up, None, and the caller builds the step), the tempered background from rank `h` down less
    them (`curve`), or the evenly spread floor (`floor`). In tuples of numbers and without
    closures: a server keeps thousands, and the garbage collector's full passes skip those.
    """

    __slots__ = ("cumulative", "curve", "excluded", "explicit_total", "floor", "h", "part", "tokens", "total")

    def __init__(
        self,
        weighted: Sequence[tuple[int, float]],
        rest_total: float = 0.0,
        *,
        part: _Part | None = None,
        curve: Tempered | None = None,
        h: int = 0,
        floor: NGramModel | None = None,
        excluded: Container[int] | None = None,
    ) -> None:
        self.tokens = tuple(w for w, _ in weighted)
        self.cumulative = tuple(itertools.accumulate(weight for _, weight in weighted))
        self.explicit_total = self.cumulative[-1] if self.cumulative else 0.0
        self.total = self.explicit_total + (rest_total if part or curve or floor else 0.0)
        self.part, self.curve, self.h, self.floor = part, curve, h, floor
        self.excluded = dict(weighted) if excluded is None else excluded  # the rest redraws these

    def __len__(self) -> int:
        return len(self.tokens)

    def pick(self, r: float) -> int:
        """The explicit token at cumulative weight r, 0 <= r < explicit_total."""
        return self.tokens[min(bisect.bisect_right(self.cumulative, r), len(self.tokens) - 1)]

    def draw(self, random: Random) -> int | None:
        r = random() * self.total
        if r < self.explicit_total:  # pick(r), inlined: every draw at a temperature comes here
            return self.tokens[min(bisect.bisect_right(self.cumulative, r), len(self.tokens) - 1)]
        excluded = self.excluded
        if self.part is not None:
            part = self.part
            for _ in range(_TRIES):
                w = part.draw(random)
                if w not in excluded:
                    return w
            return None
        if self.curve is not None:
            return self.curve.draw(self.h, excluded, random)
        if self.floor is not None:
            while (w := unseen(self.floor, random)) in excluded:
                pass
            return w
        return self.tokens[-1]


def prepare(ranking: Ranking, temperature: float, top_p: float) -> Draws | None:
    """softmax(logit' / T), cut to the nucleus of mass top_p, as Draws; None where building is cheaper.

    Explicit here: the tokens copied or adjusted, and the context's trigram followers. Every other
    token weighs the mixture's weight at T times one factor, so the mixture's sampler serves it.
    """
    static = ranking.static
    part = _part(static.mixture, temperature)
    explicit = {w: ranking.logit(w) for w in itertools.chain(ranking.copied, ranking.adjust, static.trigram)}
    log_scale = math.log(ranking.scale * static.prefix)  # P(w) = this * mixture P(w), off the explicit
    base = log_scale + part.log_top  # the mixture's most likely token's logit
    top = max(base, max(explicit.values(), default=-math.inf))
    weights = {w: math.exp((x - top) / temperature) for w, x in explicit.items()}
    taken = sum(part.weight(w) for w in weights)  # the explicit tokens' weight in the mixture
    rest_total = math.exp((base - top) / temperature) * max(0.0, part.total - taken)
    if top_p < 1:
        mass = top_p * (sum(weights.values()) + rest_total)
        chosen = _nucleus(ranking, weights, top, temperature, mass)
        return None if chosen is None else Draws(chosen)
    if taken > part.total / 2:
        # A draw from the rest redraws explicit tokens, here more than half the time: its tries
        # could give up often enough to bend the draw (with at most half, 2**-32 of the draws).
        return None
    return Draws(list(weights.items()), rest_total, part=part, excluded=weights)


def _nucleus(
    ranking: Ranking, weights: dict[int, float], top: float, temperature: float, mass: float
) -> list[tuple[int, float]] | None:
    """The most likely tokens whose weights first reach `mass` (at least one), with their weights."""
    first = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    log_scale = math.log(ranking.scale)
    n = 16
    while n <= _MAX_NUCLEUS:
        head = ranking.static.top(n)
        rest = [(w, math.exp((log_scale + math.log(p) - top) / temperature)) for p, w in head if w not in weights]
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
            return chosen
        n *= 4
    return None
