"""A request resolved into what the engine generates: the checks a schema cannot state, then a `Plan`.

The checks: the model table, the context window, best_of against n and streaming, suffix
support, prompt token ids, the logit_bias keys, and the server's cap on tokens per request. The
plan holds one engine `Candidate` per generated completion and the sampler they share.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import secrets
import time
from typing import Any, NamedTuple

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.engine.catalog import ModelCard
from portkey_completions.engine.completion import Candidate, Run
from portkey_completions.engine.engine import Engine
from portkey_completions.engine.sampler import Sampler, Sampling
from portkey_completions.observe import metrics

from .reading import Asked

logger = logging.getLogger(__name__)

# The most tokens one request may have generated (prompts x best_of x max_tokens): about five
# seconds of the slowest sampling path. Past it, an explicit max_tokens is a 400.
MAX_REQUEST_TOKENS = 131_072
# Completion ids: unique per process without a system call per request (uuid4 reads urandom).
_ID_PREFIX = f"cmpl-{secrets.token_hex(8)}"
_counter = itertools.count()  # next() on a count is atomic: plans are completed on worker threads too
_TOKEN_ID = re.compile(r"[0-9]{1,7}")
# Each biased token gets its own logit at every step; OpenAI caps the map at 300 as well.
MAX_LOGIT_BIAS = 300


def _invalid(message: str, param: str | None, code: str | None = None) -> ServerAPIError:
    return ServerAPIError(400, message, param=param, code=code)


def _prompts(engine: Engine, prompt: Any) -> list[tuple[int, ...]]:
    """The spec's four prompt forms (and null, which is <|endoftext|>) as token ids, one tuple a prompt."""
    tokenizer = engine.tokenizer
    if prompt is None:
        return [(tokenizer.eot,)]
    if isinstance(prompt, str):
        return [tuple(tokenizer.encode(prompt))]
    items = list(prompt)
    if items and all(isinstance(i, int) for i in items):
        items = [items]
    prompts = []
    for p in items:
        if isinstance(p, str):
            prompts.append(tuple(tokenizer.encode(p)))
            continue
        bad = tokenizer.invalid(p)  # ids the caller wrote; encoded text needs no check
        if bad is not None:
            raise _invalid(
                f"Invalid token {bad} in prompt: cl100k_base token ids are 0-100255 and its special tokens.", "prompt"
            )
        prompts.append(tuple(p))
    return prompts


# Samplers hold no per-request state: one per set of sampling parameters, made once. A run of
# requests alike (a test suite, a load test) reuses it; an invalid logit_bias raises every time.
@functools.lru_cache(maxsize=256)
def _sampler(
    engine: Engine,
    temperature: float,
    top_p: float,
    presence_penalty: float,
    frequency_penalty: float,
    logit_bias: tuple[tuple[str, int], ...],
) -> Sampler:
    sampling = Sampling(temperature, top_p, presence_penalty, frequency_penalty, _logit_bias(engine, logit_bias))
    return Sampler(engine.model, sampling)


def _logit_bias(engine: Engine, raw: tuple[tuple[str, int], ...]) -> dict[int, float]:
    bias = {}
    if len(raw) > MAX_LOGIT_BIAS:
        raise _invalid(f"Invalid 'logit_bias': {len(raw)} tokens, at most {MAX_LOGIT_BIAS} are allowed.", "logit_bias")
    for key, value in raw:
        if not _TOKEN_ID.fullmatch(key) or int(key) not in engine.tokenizer.valid:
            raise _invalid(f"Invalid key in 'logit_bias': {key!r} is not a cl100k_base token id.", "logit_bias")
        if not -100 <= value <= 100:
            raise _invalid(f"Invalid value for 'logit_bias' token {key}: {value} is outside -100 to 100.", "logit_bias")
        bias[int(key)] = float(value)
    return bias


class Plan(NamedTuple):
    """A request resolved: the choices to generate, per prompt, and how to answer."""

    request: Asked
    engine: Engine
    card: ModelCard
    prompts: list[tuple[int, ...]]
    choices: list[Candidate]  # per prompt p, best_of of them: choices[p * best_of + j]
    n: int
    best_of: int
    sampler: Sampler
    logprobs: int | None
    tokens: int  # the most tokens it can generate: what decides whether it runs on the event loop
    prompt_tokens: int  # each prompt once, however many choices it has; a suffix is part of the input

    @classmethod
    def from_body(cls, body: dict[str, Any], engine: Engine, text: str | None = None) -> Plan:
        """The plan for a request body the spec's validator accepted; `text` (a scenario's) is written, not sampled."""
        request = Asked.of(body)
        name = request.model
        card = engine.models.get(name)
        if card is None:
            raise ServerAPIError(
                404,
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        n = request.n
        best_of = _best_of(request)
        echo = request.echo
        suffix = _suffix(request, card, engine)
        prompts = _prompts(engine, request.prompt)
        logprobs = request.logprobs
        bias = request.logit_bias
        sampler = _sampler(
            engine,
            request.temperature,
            request.top_p,
            request.presence_penalty,
            request.frequency_penalty,
            tuple(bias.items()) if bias else (),
        )
        forced = None if text is None else tuple(engine.tokenizer.encode(text))
        choices = []
        budgets = _budgets(card, prompts, len(suffix), request.max_tokens, best_of)
        for p, ids in enumerate(prompts):
            max_tokens = budgets[p]
            for j in range(best_of):
                seed = None if request.seed is None else f"{request.seed}:{p}:{j}"
                # Positional, as in Asked.of: prompt, max_tokens, suffix, stop, logprobs, echo, score, seed, forced.
                choices.append(
                    Candidate(ids, max_tokens, suffix, request.stop, logprobs, echo, best_of > n, seed, forced)
                )
        prompt_tokens = sum(len(ids) for ids in prompts) + len(suffix) * len(prompts)
        tokens = sum(budgets) * best_of
        return cls(request, engine, card, prompts, choices, n, best_of, sampler, logprobs, tokens, prompt_tokens)

    @property
    def model(self) -> str:
        return self.request.model

    def envelope(self) -> dict[str, Any]:
        """The fields a response and every chunk of a stream share."""
        return {
            "id": f"{_ID_PREFIX}{next(_counter):08x}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": self.engine.fingerprint,
        }

    def runs(self) -> list[list[Run]]:
        """Per prompt, its best_of runs."""
        k = self.best_of
        return [
            [Run(self.engine, self.sampler, c) for c in self.choices[p * k : (p + 1) * k]]
            for p in range(len(self.prompts))
        ]

    def log_usage(self, completion_id: str, completion_tokens: int, tokens: metrics.Tokens) -> None:
        """The answer's usage, counted (`portkey_stub_tokens_total`) and logged (at debug)."""
        tokens.count(self.model, self.prompt_tokens, completion_tokens)
        # At debug: a line per request at info would cost a tenth of the throughput (`make bench`).
        if not logger.isEnabledFor(logging.DEBUG):  # its arguments cost more than the check
            return
        logger.debug(
            "completion %s model=%s user=%s prompt_tokens=%d completion_tokens=%d",
            completion_id,
            self.model,
            self.request.user,
            self.prompt_tokens,
            completion_tokens,
        )


def _budget(card: ModelCard, prompt_tokens: int, max_tokens: int | None) -> int:
    """max_tokens, or (null) what the context window leaves; over the window is OpenAI's 400."""
    window = card.context_window
    wanted = window - prompt_tokens if max_tokens is None else max_tokens
    if prompt_tokens + max(wanted, 0) > window:
        raise _invalid(
            f"This model's maximum context length is {window} tokens, however you requested "
            f"{prompt_tokens + max(wanted, 0)} tokens ({prompt_tokens} in your prompt; {max(wanted, 0)} for the "
            "completion). Please reduce your prompt; or completion length.",
            "prompt" if prompt_tokens > window else "max_tokens",
            code="context_length_exceeded",
        )
    return wanted


def _best_of(request: Asked) -> int:
    """How many candidates each prompt gets; left out (or null) it means n, whatever default the spec writes down."""
    n, asked = request.n, request.best_of
    best_of = n if asked is None else asked
    if best_of < n:
        raise _invalid(f"best_of must be greater than or equal to n (best_of is {best_of}, n is {n}).", "best_of")
    if request.stream and asked is not None and asked > 1:
        raise _invalid("Cannot stream results with best_of greater than 1.", "best_of")
    return best_of


def _suffix(request: Asked, card: ModelCard, engine: Engine) -> tuple[int, ...]:
    """The suffix's tokens (none without one), where the model and echo allow one."""
    if request.suffix is None:
        return ()
    if not card.suffix:
        raise _invalid(f"The model `{request.model}` does not support the 'suffix' parameter.", "suffix")
    if request.echo:
        raise _invalid("'echo' and 'suffix' cannot be used together.", "suffix")
    return tuple(engine.tokenizer.encode(request.suffix))


def _budgets(
    card: ModelCard, prompts: list[tuple[int, ...]], suffix: int, max_tokens: int | None, best_of: int
) -> list[int]:
    """Each prompt's most tokens per candidate: its window's room, within the request cap (MAX_REQUEST_TOKENS)."""
    budgets = [_budget(card, len(ids) + suffix, max_tokens) for ids in prompts]
    if sum(budgets) * best_of <= MAX_REQUEST_TOKENS:
        return budgets
    if max_tokens is not None:
        raise ServerAPIError(
            400,
            f"This request asks for up to {sum(budgets) * best_of} tokens ({len(prompts)} prompts x "
            f"best_of {best_of} x max_tokens {max_tokens}); this server generates at most "
            f"{MAX_REQUEST_TOKENS} per request. Lower max_tokens, n, best_of or the number of prompts.",
            param="max_tokens",
            code="request_too_large",
        )
    # max_tokens null means "up to the window": here, up to an equal share of the cap.
    return [min(b, MAX_REQUEST_TOKENS // (len(prompts) * best_of)) for b in budgets]
