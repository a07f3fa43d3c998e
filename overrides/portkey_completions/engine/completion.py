"""One choice, token by token: sampling, UTF-8 decoding, stop sequences, echo and logprobs.

A choice is produced as pieces of text, each with the tokens it holds. The non-streamed
response joins them; the stream sends them as they come. Both read the same pieces, so the
joined stream equals the response for the same seed.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from .engine import Engine
from .lm import Copying
from .sampler import Sampler


class Candidate(NamedTuple):
    """What one candidate completion asks for, resolved: token ids and limits, no defaults left open.

    A candidate: `best_of` makes that many per prompt and answers the best `n` as the choices;
    without `best_of`, each candidate is a choice.
    """

    prompt: tuple[int, ...]
    max_tokens: int
    suffix: tuple[int, ...] = ()
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    echo: bool = False
    score: bool = False  # best_of ranks candidates by their mean logprob
    seed: str | None = None  # None: a fresh random seed
    # A scenario's fixed text, as tokens: written instead of sampled, then a natural stop. Its
    # logprobs are the model's for those tokens, so text, usage and logprobs stay consistent.
    forced: tuple[int, ...] | None = None


class Token(NamedTuple):
    label: str  # the token as logprobs name it
    logprob: float | None
    top: dict[str, float] | None  # may be shared with other tokens (`Step.named`): never changed
    offset: int  # where its text starts in the choice's text


class Piece(NamedTuple):
    text: str
    tokens: list[Token]
    finish_reason: str | None


class Run:
    """Generates one choice; after the pieces are read, `sampled` and `mean_logprob` hold."""

    def __init__(self, engine: Engine, sampler: Sampler, choice: Candidate) -> None:
        self.engine = engine
        self.sampler = sampler
        self.choice = choice
        self.sampled = 0
        self._logprob_sum = 0.0

    @property
    def mean_logprob(self) -> float:
        return self._logprob_sum / self.sampled if self.sampled else 0.0

    def pieces(self) -> Iterator[Piece]:
        """The choice's text as it is generated; the last piece carries the finish reason.

        One piece is held back so that the finish reason rides on the last text, as the API
        sends it, rather than on an empty piece of its own.
        """
        last = None
        for piece in self._pieces():
            if piece.finish_reason is not None and last is not None:
                piece = Piece(last.text + piece.text, last.tokens + piece.tokens, piece.finish_reason)
            elif last is not None:
                yield last
            last = piece
        if last is not None:
            yield last

    def whole(self) -> Piece:
        """The choice in one piece, for a response that is not streamed."""
        choice = self.choice
        if choice.logprobs is not None or choice.stop or choice.echo or choice.score or choice.forced is not None:
            pieces = list(self._pieces(whole=True))
            tokens = [t for piece in pieces for t in piece.tokens]
            return Piece("".join(piece.text for piece in pieces), tokens, pieces[-1].finish_reason)
        # Only text is asked for: sample the ids, then decode them at once (what the incremental
        # decoder gives, piece by piece, joined).
        a, b, copying, join, rng = self._start()
        draw, eot, penalised = self.sampler.draw, self.engine.tokenizer.eot, self.sampler.penalised
        ids: list[int] = []
        counts: dict[int, int] = {}
        finish = "length"
        sampled = 0
        for _ in range(choice.max_tokens):
            token = draw(a, b, copying, counts, rng)
            sampled += 1
            if token == eot or token == join:
                finish = "stop"
                break
            if penalised:
                counts[token] = counts.get(token, 0) + 1
            ids.append(token)
            a, b = b, token
        self.sampled += sampled
        token_bytes = self.engine.tokenizer.token_bytes
        return Piece(b"".join([token_bytes[t] for t in ids]).decode("utf-8", errors="replace"), [], finish)

    def _start(self) -> tuple[int, int, Copying | None, int | None, Callable[[], float]]:
        """The context a choice starts from: last two prompt tokens, copying, suffix join, generator."""
        choice = self.choice
        prompt = choice.prompt
        a = prompt[-2] if len(prompt) > 1 else -1
        b = prompt[-1] if prompt else -1
        copying = Copying(prompt + choice.suffix) if prompt or choice.suffix else None
        # A suffix is reached when the model would write its first token: the insertion ends there.
        join = choice.suffix[0] if choice.suffix else None
        # Unseeded choices share the module's generator: seeding a new one costs a read of urandom.
        rng = random.random if choice.seed is None else random.Random(choice.seed).random
        return a, b, copying, join, rng

    def _pieces(self, *, whole: bool = False) -> Iterator[Piece]:
        """The pieces as generated; `whole`: for a reader that joins them, in as few pieces as can be."""
        choice, tokenizer = self.choice, self.engine.tokenizer
        offset = 0
        if choice.echo:
            echoed = self._echo()
            yield echoed
            offset = len(echoed.text)
        a, b, copying, join, rng = self._start()
        step, eot = self.sampler.step, tokenizer.eot
        token_bytes, labels = tokenizer.token_bytes, tokenizer.labels
        want_tokens = choice.logprobs is not None
        top = choice.logprobs
        named_by = labels if want_tokens else None  # the top k come named by label: kept per step, not made per token
        score = choice.score
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        held = _Held(choice.stop, offset)
        # Nothing can be held back (no stop sequence) and nobody reads the pieces one by one: the
        # text and tokens gather here, and go out as one piece at the end.
        gathered: tuple[list[str], list[Token]] | None = ([], []) if whole and not held.stops else None
        counts: dict[int, int] = {}
        finish = "length"
        forced = iter(choice.forced) if choice.forced is not None else None
        for _ in range(choice.max_tokens):
            if forced is None:
                token, logprob, _, named = step(a, b, copying, counts, rng, top=top, score=score, labels=named_by)
            else:
                token, logprob, named = self._forced(forced, a, b, copying, named_by)
                if token < 0:  # the fixed text is written: a natural stop, nothing more sampled
                    finish = "stop"
                    break
            self.sampled += 1
            if logprob is not None:
                self._logprob_sum += logprob
            if token == eot or token == join:
                finish = "stop"
                break
            counts[token] = counts.get(token, 0) + 1
            a, b = b, token
            text = decode(token_bytes[token])
            entry = None
            if want_tokens:
                entry = Token(labels[token], logprob, named, offset if gathered is not None else held.at)
            if gathered is not None:
                gathered[0].append(text)
                if entry is not None:
                    gathered[1].append(entry)
                offset += len(text)
                continue
            piece = held.add(text, entry)
            if piece is not None:
                yield piece
                if piece.finish_reason:
                    return
        yield _last(decode(b"", final=True), gathered, held, finish)

    def _forced(
        self, forced: Iterator[int], a: int, b: int, copying: Copying | None, named_by: Sequence[str] | None
    ) -> tuple[int, float | None, dict[str, float] | None]:
        """The fixed text's next token (-1 once it is all written), scored by the model when asked."""
        token = next(forced, -1)
        top = self.choice.logprobs
        if token < 0 or (top is None and not self.choice.score):
            return token, None, None
        scored = self.sampler.score(a, b, copying, token, top, named_by)
        return token, scored.logprob, scored.named

    def _echo(self) -> Piece:
        """The prompt as text; with logprobs, each prompt token scored by the model (the first has none)."""
        choice, tokenizer = self.choice, self.engine.tokenizer
        prompt = choice.prompt
        text = tokenizer.decode(prompt)
        if choice.logprobs is None:
            return Piece(text, [], None)
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        copying = Copying()
        tokens = []
        offset = 0
        a = b = -1
        for i, w in enumerate(prompt):
            if i == 0:
                tokens.append(Token(tokenizer.labels[w], None, None, 0))
            else:
                _, logprob, _, named = self.sampler.score(a, b, copying, w, choice.logprobs, tokenizer.labels)
                tokens.append(Token(tokenizer.labels[w], logprob, named, offset))
            copying.add(a, b, w)
            a, b = b, w
            offset += len(decode(tokenizer.token_bytes[w]))
        return Piece(text, tokens, None)


def _last(tail: str, gathered: tuple[list[str], list[Token]] | None, held: _Held, finish: str) -> Piece:
    """The run's last piece: what was gathered, or what was held back, with the decoder's tail."""
    if gathered is not None:
        return Piece("".join(gathered[0]) + tail, gathered[1], finish)
    piece = held.add(tail, None, tail=True) if tail else None
    return piece if piece is not None else held.flush(finish)


def _cut(token: Token, label: str) -> Token:
    """A token a stop sequence cuts through, named by its part before the stop.

    The rule (OpenAI does not document one): `tokens` holds the cut label, so the labels still
    join to the text; in its `top_logprobs`, the cut label names this token, with its own logprob,
    in place of its full label. Another token whose label is that same text is left out of that
    entry: a JSON object cannot name two tokens alike, and the one sampled is the one that matters.
    """
    top = token.top
    if top is not None:
        top = {name: lp for name, lp in top.items() if name not in (token.label, label)}
        if token.logprob is not None:
            top[label] = token.logprob
    return token._replace(label=label, top=top)


class _Held:
    """Text not yet sent because it may be the start of a stop sequence.

    A stop sequence is never returned: the text ends where it begins, and a token it cuts
    through keeps only its part before it (so the tokens' labels still join to the text).
    """

    def __init__(self, stops: tuple[str, ...], offset: int) -> None:
        self.stops = tuple(s for s in stops if s)
        self.offset = offset  # characters of the choice already sent
        self.text = ""
        self.spans: list[tuple[Token | None, int, int]] = []  # (token, start, end) in self.text

    @property
    def at(self) -> int:
        """Where the next token's text starts in the choice: its offset, unless it is held and cut."""
        return self.offset + len(self.text)

    def add(self, text: str, token: Token | None, *, tail: bool = False) -> Piece | None:
        """Take one token's text; return what can be sent, or the last piece if a stop sequence appeared.

        `token.offset` is `at` as the token's text came; held text is sent with the offsets it ends up at.

        `tail` is text without a token of its own (the decoder's last bytes): it joins the last token.
        """
        if not self.stops and not self.text and not tail:
            # Nothing can be held back: the token goes out as it is, at `at` (the common case, kept cheap).
            self.offset += len(text)
            return Piece(text, [] if token is None else [token], None)
        start = len(self.text)
        self.text += text
        if tail and self.spans:
            last, first, _ = self.spans[-1]
            self.spans[-1] = (last, first, len(self.text))
        else:
            self.spans.append((token, start, len(self.text)))
        cut = min((i for i in (self.text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            return self._send(cut, "stop")
        if tail:
            return None
        # Keep back the longest end of the text that begins some stop sequence, whole tokens at a time.
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.text.endswith(s[:k])), default=0)
        safe = len(self.text) - keep
        upto = max((end for _, _, end in self.spans if end <= safe), default=0)
        return self._send(upto, None)

    def flush(self, finish_reason: str) -> Piece:
        """Everything held, with the finish reason: the choice's last piece."""
        return self._send(len(self.text), finish_reason) or Piece("", [], finish_reason)

    def _send(self, upto: int, finish_reason: str | None) -> Piece | None:
        sent: list[Token] = []
        kept = []
        for token, start, end in self.spans:
            if end <= upto or (finish_reason and start < upto):
                if token is not None:
                    out = token if end <= upto else _cut(token, self.text[start:upto])
                    sent.append(out._replace(offset=self.offset + start))
            else:
                kept.append((token, start - upto, end - upto))
        if not upto and not sent and finish_reason is None and len(kept) == len(self.spans):
            return None
        text = self.text[:upto]
        self.text = self.text[upto:]
        self.spans = kept
        self.offset += len(text)
        return Piece(text, sent, finish_reason)
