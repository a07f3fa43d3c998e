"""A small language model over cl100k ids: interpolated n-grams plus copying from the prompt.

P(w | a b) mixes, most specific first, each taking a share of what is left:

1. copying: what followed `a b` in the prompt (share COPY_TRIGRAM), then what followed `b`
   (share COPY_BIGRAM) — this is what makes a completion pick up the prompt's words;
2. trigram and bigram counts from the training text, each with its Witten-Bell share
   c(h) / (c(h) + distinct followers of h);
3. the background: unigram counts, with FLOOR of the mass spread evenly over every token of
   the vocabulary, so that every token has a finite logprob and logit_bias can raise any of them.

A component is present only when its context was seen; its share then goes to the next one.
Every component is a sparse list of followers, so one step costs a few dict look-ups: sampling
never builds a distribution over the 100k-token vocabulary.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

COPY_TRIGRAM = 0.5
COPY_BIGRAM = 0.2
FLOOR = 1e-4
_UNIGRAM = 1 - FLOOR  # the background's share that is the unigram counts (the rest is the floor)

# Context keys are ints (a * STRIDE + b): cheaper to hash than tuples. A missing `a` is -1,
# which gives a negative key no trained context has.
STRIDE = 1 << 20

Random = Callable[[], float]


class Followers:
    """The tokens seen after one context, with repetition: a uniform pick is a pick by count."""

    __slots__ = ("counts", "n", "share", "tokens")

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.counts: dict[int, int] = {}
        self.n = 0
        self.share = 0.0

    def add(self, token: int) -> None:
        self.tokens.append(token)
        self.counts[token] = self.counts.get(token, 0) + 1
        self.n += 1
        self.share = self.n / (self.n + len(self.counts))  # Witten-Bell

    @classmethod
    def of(cls, tokens: Iterable[int]) -> Followers:
        made = cls()
        for token in tokens:
            made.add(token)
        return made


def key(a: int, b: int) -> int:
    return a * STRIDE + b


class Copying:
    """What followed each one- and two-token context in the prompt (and the suffix).

    Plain lists of followers, with repetition: built once per choice on the request path, where
    sampling only picks from them uniformly (Followers' counts would cost more to build than the
    draws they serve). A distribution that needs counts makes them (`_components`).
    """

    __slots__ = ("bigrams", "trigrams")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.trigrams: dict[int, list[int]] = {}
        self.bigrams: dict[int, list[int]] = {}
        add = self.add
        a = b = -1
        for w in ids:
            add(a, b, w)
            a, b = b, w

    @classmethod
    def at(cls, a: int, b: int, trigram: Iterable[int] | None, bigram: Iterable[int] | None) -> Copying:
        """Only what the prompt copies after `a b`: the followers of `a b` and of `b`."""
        made = cls()
        if trigram:
            made.trigrams[key(a, b)] = list(trigram)
        if bigram:
            made.bigrams[b] = list(bigram)
        return made

    def add(self, a: int, b: int, w: int) -> None:
        if b < 0:
            return
        if a >= 0:
            self.trigrams.setdefault(key(a, b), []).append(w)
        self.bigrams.setdefault(b, []).append(w)


class Distribution:
    """P(. | context) as its sparse components plus `rest` times the background."""

    __slots__ = ("components", "model", "rest")

    def __init__(self, model: NGramModel, components: list[tuple[float, Followers]], rest: float) -> None:
        self.model = model
        self.components = components
        self.rest = rest

    def explicit(self) -> dict[int, float]:
        """P(w) for every token some component names; every other token has rest * background(w)."""
        p: dict[int, float] = {}
        for weight, f in self.components:
            scale = weight / f.n
            for w, c in f.counts.items():
                p[w] = p.get(w, 0.0) + scale * c
        background, rest = self.model.background, self.rest
        for w in p:
            p[w] += rest * background(w)
        return p

    def p(self, w: int) -> float:
        total = self.rest * self.model.background(w)
        for weight, f in self.components:
            c = f.counts.get(w)
            if c:
                total += weight * c / f.n
        return total


class NGramModel:
    """Trained once, at start-up, on documents of token ids."""

    def __init__(self, documents: Iterable[Sequence[int]], vocabulary: Iterable[int], eot: int) -> None:
        self.trigrams: dict[int, Followers] = {}
        self.bigrams: dict[int, Followers] = {}
        self.unigrams = Followers()
        for doc in documents:
            seq = [eot, *doc, eot]  # each document starts after, and ends with, an end of text
            for i in range(1, len(seq)):
                w = seq[i]
                self.bigrams.setdefault(seq[i - 1], Followers()).add(w)
                if i >= 2:
                    self.trigrams.setdefault(key(seq[i - 2], seq[i - 1]), Followers()).add(w)
                self.unigrams.add(w)
        self.vocabulary = tuple(sorted(vocabulary))
        self.floor = FLOOR / len(self.vocabulary)
        n = self.unigrams.n
        self.seen = {w: (1 - FLOOR) * c / n + self.floor for w, c in self.unigrams.counts.items()}
        # The background's tokens from most to least likely (ties by id); every unseen token
        # comes after them, each with probability `floor`.
        self.ranked = sorted(self.seen, key=lambda w: (-self.seen[w], w))
        self.rank = {w: i for i, w in enumerate(self.ranked)}

    def background(self, w: int) -> float:
        return self.seen.get(w, self.floor)

    def distribution(self, a: int, b: int, copying: Copying | None) -> Distribution:
        components: list[tuple[float, Followers]] = []
        rest = 1.0
        k = key(a, b)
        for f, share in self._components(k, b, copying):
            components.append((rest * share, f))
            rest *= 1 - share
        return Distribution(self, components, rest)

    def _components(self, k: int, b: int, copying: Copying | None) -> Iterable[tuple[Followers, float]]:
        if copying is not None:
            copied = copying.trigrams.get(k)
            if copied is not None:
                yield Followers.of(copied), COPY_TRIGRAM
            copied = copying.bigrams.get(b)
            if copied is not None:
                yield Followers.of(copied), COPY_BIGRAM
        f = self.trigrams.get(k)
        if f is not None:
            yield f, f.share
        f = self.bigrams.get(b)
        if f is not None:
            yield f, f.share

    def sample(self, a: int, b: int, copying: Copying | None, random: Random) -> int:
        """Draw from P(. | a b) exactly, without materialising it: pick a component, then a follower.

        The same walk as `distribution`, inlined, because this is the engine's hot loop.
        """
        r = random()
        k = a * STRIDE + b
        if copying is not None:
            copied = copying.trigrams.get(k)
            if copied is not None:
                if r < COPY_TRIGRAM:
                    return copied[int(random() * len(copied))]
                r = (r - COPY_TRIGRAM) / (1 - COPY_TRIGRAM)
            copied = copying.bigrams.get(b)
            if copied is not None:
                if r < COPY_BIGRAM:
                    return copied[int(random() * len(copied))]
                r = (r - COPY_BIGRAM) / (1 - COPY_BIGRAM)
        f = self.trigrams.get(k)
        if f is not None:
            if r < f.share:
                return f.tokens[int(random() * f.n)]
            r = (r - f.share) / (1 - f.share)
        f = self.bigrams.get(b)
        if f is not None:
            if r < f.share:
                return f.tokens[int(random() * f.n)]
            r = (r - f.share) / (1 - f.share)
        if r < _UNIGRAM:
            f = self.unigrams
            return f.tokens[int(random() * f.n)]
        return self.vocabulary[int(random() * len(self.vocabulary))]


class Mixture:
    """The bigram component over the background: P(w | b) as the bigram model alone gives it.

    Every context ending in b mixes its trigram (if any) with exactly this, scaled: so its ranking,
    made once per b, ranks every token the trigram does not name in every such context.
    """

    __slots__ = ("_head", "followers", "model", "rest", "scale")

    def __init__(self, model: NGramModel, b: int) -> None:
        self.model = model
        f = self.followers = model.bigrams.get(b)
        self.scale = f.share / f.n if f is not None else 0.0
        self.rest = 1.0 - f.share if f is not None else 1.0  # every token's share of the background
        self._head: list[tuple[float, int]] = []

    def p(self, w: int) -> float:
        c = self.followers.counts.get(w, 0) if self.followers is not None else 0
        return self.scale * c + self.rest * self.model.background(w)

    def head(self, n: int) -> list[tuple[float, int]]:
        """The n most likely tokens as (P, token), by P and then id; the longest asked for is kept."""
        if len(self._head) < n:
            self._head = list(itertools.islice(self._ranking(), max(n, 2 * len(self._head), 8)))
        return self._head[:n]

    def _ranking(self) -> Iterator[tuple[float, int]]:
        model, f, rest = self.model, self.followers, self.rest
        named = f.counts if f is not None else {}
        followers = sorted(((self.p(w), w) for w in named), key=lambda item: (-item[0], item[1]))
        background = ((rest * model.seen[w], w) for w in model.ranked if w not in named)
        yield from heapq.merge(followers, background, key=lambda item: (-item[0], item[1]))
        floor = rest * model.floor
        yield from ((floor, w) for w in model.vocabulary if w not in model.seen)


# One per token that ends a context: at most the vocabulary, in practice the corpus's few thousand.
@functools.cache
def mixture(model: NGramModel, b: int) -> Mixture:
    return Mixture(model, b)


class Static:
    """P(. | a b) from the trained components alone (no copying): what every request in that context shares.

    P(w) = trigram_scale * c_trigram(w) + prefix * Mixture(b).p(w): the trigram's few followers,
    and the bigram mixture every context ending in b shares (with its ranking, made once per b).
    """

    __slots__ = ("_head", "mixture", "prefix", "trigram", "trigram_scale")

    def __init__(self, model: NGramModel, a: int, b: int) -> None:
        f = model.trigrams.get(key(a, b))
        self.trigram: dict[int, int] = f.counts if f is not None else {}
        self.trigram_scale = f.share / f.n if f is not None else 0.0
        self.prefix = 1.0 - f.share if f is not None else 1.0  # what the trigram leaves to the mixture
        self.mixture = mixture(model, b)
        self._head: list[tuple[float, int]] = []

    def p(self, w: int) -> float:
        c = self.trigram.get(w)
        return self.prefix * self.mixture.p(w) + (self.trigram_scale * c if c else 0.0)

    def top(self, n: int) -> list[tuple[float, int]]:
        """The n most likely tokens as (P, token), by P and then id: exact. The longest asked for is kept."""
        if len(self._head) < n:
            trigram, prefix = self.trigram, self.prefix
            named = sorted(((self.p(w), w) for w in trigram), key=lambda item: (-item[0], item[1]))
            others = ((prefix * p, w) for p, w in self.mixture.head(n + len(trigram)) if w not in trigram)
            merged = heapq.merge(named, others, key=lambda item: (-item[0], item[1]))
            self._head = list(itertools.islice(merged, n))
        return self._head[:n]


def trained_context(model: NGramModel, a: int, b: int) -> int:
    """The `a` the trained part of P(. | a b) depends on: -1 when the training text never had `a b`.

    Every context whose trigram was never seen shares its ending token's distribution, so the
    contexts worth making once are the corpus's trigrams and its tokens: a few thousand.
    """
    return a if a * STRIDE + b in model.trigrams else -1


def static(model: NGramModel, a: int, b: int) -> Static:
    """The trained part of P(. | a b), made once per trained context (its ranking's head on first use)."""
    return _static(model, trained_context(model, a, b), b)


# A few hundred bytes each: a few MB at most. Bounded by the corpus's trigrams and tokens.
@functools.lru_cache(maxsize=16384)
def _static(model: NGramModel, a: int, b: int) -> Static:
    return Static(model, a, b)
