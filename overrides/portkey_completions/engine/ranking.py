"""One step's distribution at temperature 1, after logit_bias and penalties, ranked: logprobs, the top k, the argmax.

Nothing here visits the vocabulary, or even every token the context names. P(w | a b) is the
copying components' mass (the prompt's few followers) plus m times the trained part, `lm.static`,
which is the same for every request in that context and made once, with its named tokens ranked.
Only the copied tokens and the tokens the request adjusts (logit_bias, penalties) differ from it:

    logit'(w) = log P(w) + adjustment(w)
    Z = sum of exp(logit') = sum over adjusted w of P(w) exp(adjustment(w)) + (1 - sum over adjusted w of P(w))

since P sums to 1. The ranking of every other token is the trained part's, so the k best tokens
are the best of a handful of explicit ones and the head of the trained part's ranking, found once
per context (`lm.Static.top`).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence

from .lm import COPY_BIGRAM, COPY_TRIGRAM, NGramModel, static

_KEPT_LOGPROBS = 64


class Ranking:
    """Logprobs as the API reports them (log softmax of the adjusted logits at temperature 1), and greedy picks."""

    __slots__ = (
        "_best",
        "_log_z",
        "_logprobs",
        "_top",
        "adjust",
        "copied",
        "model",
        "scale",
        "static",
    )

    def __init__(
        self,
        model: NGramModel,
        a: int,
        b: int,
        copied_trigram: Sequence[int] | None,
        copied_bigram: Sequence[int] | None,
        bias: Mapping[int, float],
        counts: Mapping[int, int],
        frequency_penalty: float,
        presence_penalty: float,
    ) -> None:
        self.model = model
        self.static = static(model, a, b)
        copied: dict[int, float] = {}
        scale = 1.0
        for followers, share in ((copied_trigram, COPY_TRIGRAM), (copied_bigram, COPY_BIGRAM)):
            if followers:
                each = scale * share / len(followers)
                for w in followers:
                    copied[w] = copied.get(w, 0.0) + each
                scale *= 1 - share
        self.copied, self.scale = copied, scale  # P(w) = copied[w] + scale * static P(w)
        adjust = {w: float(v) for w, v in bias.items() if v}
        if frequency_penalty or presence_penalty:
            for w, c in counts.items():
                if c:
                    adjust[w] = adjust.get(w, 0.0) - c * frequency_penalty - presence_penalty
        self.adjust = adjust
        self._log_z: float | None = None  # asked for by logprobs only: a draw does without
        # By k: a prepared step (`sampler.Prepared`) is asked again at each visit of its context.
        self._best: dict[int, tuple[tuple[int, float], ...]] = {}
        # By k: the top k as handed out, the same as a dict to find the sampled token in, and by
        # label once someone asks for labels.
        self._top: dict[int, tuple[tuple[tuple[int, float], ...], dict[int, float], dict[str, float] | None]] = {}
        self._logprobs: dict[int, float] = {}  # sampled tokens past the top k, the first _KEPT_LOGPROBS

    @property
    def log_z(self) -> float:
        """log Z: the adjusted tokens' change to a total of 1, in log space (a raised logit can pass exp())."""
        if self._log_z is None:
            terms = [math.log(self.p(w)) + x for w, x in self.adjust.items()]
            left = 1.0 - sum(self.p(w) for w in self.adjust)
            if left > 0:
                terms.append(math.log(left))
            top = max(terms)
            self._log_z = top + math.log(sum(math.exp(t - top) for t in terms))
        return self._log_z

    def p(self, w: int) -> float:
        """P(w | a b) before any adjustment."""
        return self.copied.get(w, 0.0) + self.scale * self.static.p(w)

    def logit(self, w: int) -> float:
        return math.log(self.p(w)) + self.adjust.get(w, 0.0)

    def logprob(self, w: int) -> float:
        return min(0.0, self.logit(w) - self.log_z)

    def best(self, k: int) -> tuple[tuple[int, float], ...]:
        """The k tokens with the highest adjusted logits (ties to the lowest id), with those logits."""
        found = self._best.get(k)
        if found is None:
            found = self._best[k] = tuple(self._find_best(k))
        return found

    def _find_best(self, k: int) -> list[tuple[int, float]]:
        explicit = {w: self.logit(w) for w in itertools.chain(self.copied, self.adjust)}
        # Every other token keeps the trained part's order: its first k that are not explicit (a
        # banned or copied token is often at the head, so room is made for a few of them at once).
        n = k + min(len(explicit), 4)
        while True:
            head = self.static.top(n)
            others = [(w, p) for p, w in head if w not in explicit][:k]
            if len(others) == k or len(head) < n:
                break
            n *= 2
        log_scale = math.log(self.scale)
        ranked = [*explicit.items(), *((w, log_scale + math.log(p)) for w, p in others)]
        return heapq.nsmallest(k, ranked, key=lambda item: (-item[1], item[0]))

    def greedy(self) -> int:
        return self.best(1)[0][0]

    def scored(
        self, sampled: int, k: int | None, labels: Sequence[str] | None = None
    ) -> tuple[float, tuple[tuple[int, float], ...] | None, dict[str, float] | None]:
        """The sampled token's logprob and, with k, the k most likely tokens with theirs (and the sampled one).

        With `labels` (a token's name by id), the same k (and sampled one) by name as well. The k's
        dict is made once and handed out as it is while the sampled token is among them: shared,
        so never changed by whoever reads it.
        """
        if k is None:
            return self.logprob(sampled), None, None
        if k <= 0:
            logprob = self.logprob(sampled)
            return logprob, ((sampled, logprob),), None if labels is None else {labels[sampled]: logprob}
        top = self._top.get(k)
        if top is None:
            log_z = self.log_z
            listed = tuple((w, min(0.0, x - log_z)) for w, x in self.best(k))
            top = self._top[k] = (listed, dict(listed), None)
        listed, by_token, named = top
        if named is None and labels is not None:  # the names, the first time someone asks for them
            named = {labels[w]: lp for w, lp in listed}
            self._top[k] = (listed, by_token, named)
        found = by_token.get(sampled)
        if found is not None:
            return found, listed, named
        found = self._logprobs.get(sampled)
        if found is None:
            found = self.logprob(sampled)
            if len(self._logprobs) < _KEPT_LOGPROBS:
                self._logprobs[sampled] = found
        listed = (*listed, (sampled, found))
        if named is None or labels is None:
            return found, listed, None
        # A copy of the k's dict with the sampled one added: made in C, where a comprehension over
        # the labels at every token was a tenth of a logprobs request.
        return found, listed, {**named, labels[sampled]: found}
