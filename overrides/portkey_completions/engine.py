"""The completion engine behind the stub: prompt in, token pieces out.

This is the thin first engine: deterministic text, word-piece tokens, stop
sequences and max_tokens honoured. It does not yet use the models' real
tokenizer or probabilities (no logprobs); the engine issue replaces its insides
behind the same two calls, `count` and `generate`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ENDOFTEXT = "<|endoftext|>"

# A word and the white space before it: joining the pieces gives the text back.
_PIECE = re.compile(r"\s*\S+|\s+")

_CORPUS = (
    "This is indeed a test of the completions endpoint, answered by a local stub server "
    "that speaks the same protocol as the Portkey gateway. The model generates text one token "
    "at a time, and each token is sent as soon as it exists. Given a prompt, the model will "
    "return one or more predicted completions, and can also return the probabilities of "
    "alternative tokens at each position."
).split(" ")


def pieces(text: str) -> list[str]:
    """Split text into token pieces whose concatenation is the text."""
    return _PIECE.findall(text)


def count(text: str) -> int:
    """How many tokens the text is."""
    return len(pieces(text))


def token_ids_text(ids: Sequence[int]) -> str:
    """Stand-in text for a token-id prompt until the engine has a real vocabulary."""
    return "".join(f"<|{i}|>" for i in ids)


@dataclass(frozen=True)
class Sampling:
    """What shapes one choice's text."""

    max_tokens: int | None
    stop: tuple[str, ...] = ()
    seed: int | None = None


def generate(prompt: str, sampling: Sampling, choice: int) -> Iterator[tuple[str, str | None]]:
    """Yield (piece, finish_reason) pairs; finish_reason is set on the last one only.

    With a stop sequence the text ends before it, as the API does, and the
    finish reason is "stop". max_tokens None means: until a natural end.
    """
    key = f"{sampling.seed}\x00{choice}\x00{prompt}".encode()
    start = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % len(_CORPUS)
    words = _CORPUS[start:] + _CORPUS[:start]
    if sampling.max_tokens == 0:
        yield "", "length"
        return
    # The text runs out (a natural stop) or max_tokens cuts it ("length").
    steps = words if sampling.max_tokens is None else words[: sampling.max_tokens]
    text = ""
    for i, word in enumerate(steps):
        piece = (" " if i or prompt[-1:] not in ("", " ", "\n") else "") + word
        cut = _first_stop(text + piece, sampling.stop)
        if cut is not None:
            yield (text + piece)[len(text) : cut], "stop"
            return
        text += piece
        if i < len(steps) - 1:
            yield piece, None
        else:
            yield piece, "length" if sampling.max_tokens == len(steps) else "stop"


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits, default=None)
