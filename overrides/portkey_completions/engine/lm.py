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
from collections.abc import Callable, Iterable, Sequence

COPY_TRIGRAM = 0.5
COPY_BIGRAM = 0.2
FLOOR = 1e-4

# Context keys are ints (a * _STRIDE + b): cheaper to hash than tuples. A missing `a` is -1,
# which gives a negative key no trained context has.
_STRIDE = 1 << 20

Random = Callable[[], float]


class Followers:
    """The tokens seen after one context, with repetition: a uniform pick is a pick by count."""

    __slots__ = ("_ranked", "counts", "n", "share", "tokens")

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.counts: dict[int, int] = {}
        self.n = 0
        self.share = 0.0
        self._ranked: list[tuple[int, int]] | None = None

    def add(self, token: int) -> None:
        self.tokens.append(token)
        self.counts[token] = self.counts.get(token, 0) + 1
        self.n += 1
        self.share = self.n / (self.n + len(self.counts))  # Witten-Bell

    def ranked(self) -> list[tuple[int, int]]:
        """(count, token), most frequent first (ties by id): made once, when first asked (after training)."""
        if self._ranked is None:
            self._ranked = sorted(((c, w) for w, c in self.counts.items()), key=lambda item: (-item[0], item[1]))
        return self._ranked

    @classmethod
    def of(cls, tokens: Iterable[int]) -> Followers:
        made = cls()
        for token in tokens:
            made.add(token)
        return made


def key(a: int, b: int) -> int:
    return a * _STRIDE + b


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
        k = a * _STRIDE + b
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
        if r < 1 - FLOOR:
            return self.unigrams.tokens[int(random() * self.unigrams.n)]
        return self.vocabulary[int(random() * len(self.vocabulary))]


class Static:
    """P(. | a b) from the trained components alone (no copying): what every request in that context shares.

    Its ranking is found from each component's own ranking (the threshold algorithm): the tokens
    at the head of one of them are the only candidates for the head of the mix, so a context
    with thousands of followers costs a few dozen look-ups, not thousands.
    """

    __slots__ = ("_asked", "_head", "model", "parts", "rest")

    def __init__(self, model: NGramModel, a: int, b: int) -> None:
        parts = []
        rest = 1.0
        for f, share in model._components(key(a, b), b, None):
            parts.append((rest * share / f.n, f))
            rest *= 1 - share
        self.model = model
        self.parts = tuple(parts)
        self.rest = rest  # every token's share of the background
        self._head: list[tuple[float, int]] | None = None
        self._asked = 0  # how many the head was made for (it is shorter only if there are no more)

    def p(self, w: int) -> float:
        total = self.rest * self.model.background(w)
        for scale, f in self.parts:
            c = f.counts.get(w)
            if c:
                total += scale * c
        return total

    def top(self, n: int) -> list[tuple[float, int]]:
        """The n most likely tokens as (P, token), by P and then id: exact. The longest asked for is kept."""
        head = self._head
        if head is None or (len(head) < n and len(head) == self._asked):
            head = self._head = self._top(n)
            self._asked = n
        return head[:n]

    def _top(self, n: int) -> list[tuple[float, int]]:
        model, k = self.model, n
        while True:
            heads = [f.ranked()[:k] for _, f in self.parts]
            background = model.ranked[:k]
            candidates = {w for head in heads for _, w in head} | set(background)
            scored = sorted(((self.p(w), w) for w in candidates), key=lambda item: (-item[0], item[1]))[:n]
            # A token in none of the heads has at most each head's last count and background.
            bound = sum(
                scale * head[-1][0] for (scale, f), head in zip(self.parts, heads, strict=True) if len(head) == k
            )
            bound += self.rest * (model.seen[background[-1]] if len(background) == k else model.floor)
            exhausted = len(background) < k  # every seen token is a candidate: nothing is left out
            if exhausted or (len(scored) == n and scored[-1][0] > bound):
                return scored
            k *= 2


# About 300 bytes each: a few MB at most, for the contexts requests visit again.
@functools.lru_cache(maxsize=16384)
def static(model: NGramModel, a: int, b: int) -> Static:
    """The trained part of P(. | a b), made once per context (its ranking's head on first use)."""
    return Static(model, a, b)
