"""The createCompletion operation: a validated request in, a completion or an SSE stream out.

The request is read straight from the body the spec's validator has accepted (`Asked`, with the
spec's defaults; a test holds it to the generated models' own reading), then checked
for what a schema cannot say (model table, context window, best_of, logit_bias keys) and resolved
into a Plan: one engine `Choice` per generated completion. Responses are plain dicts in the spec's shape (the generated
models drop `nullable` from `top_logprobs` items, which echo needs); the tests validate them
against the spec.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

import orjson
from connexion import request as current_request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from portkey_completions.core import spec, sse
from portkey_completions.engine.catalog import ModelCard
from portkey_completions.engine.completion import Choice, Piece, Run, Token
from portkey_completions.engine.engine import Engine
from portkey_completions.engine.sampler import Sampler, Sampling

from . import lifecycle, shaping
from .errors import ServerAPIError

logger = logging.getLogger(__name__)

Route = Callable[[Mapping[str, str], dict[str, Any]], Awaitable[Response]]

# The most tokens one request may have generated (prompts x best_of x max_tokens): about five
# seconds of the slowest sampling path. Past it, an explicit max_tokens is a 400.
MAX_REQUEST_TOKENS = 131_072
# Up to this many tokens a completion is generated on the event loop (well under a millisecond);
# a thread hop would cost more than the work. Larger ones go to a worker thread.
INLINE_TOKENS = 256
# Completion ids: unique per process without a system call per request (uuid4 reads urandom).
_ID_PREFIX = f"cmpl-{secrets.token_hex(8)}"
_counter = itertools.count()  # next() on a count is atomic: plans are completed on worker threads too
_TOKEN_ID = re.compile(r"[0-9]{1,7}")
# Each biased token gets its own logit at every step; OpenAI caps the map at 300 as well.
MAX_LOGIT_BIAS = 300


# The spec's defaults, which the generated models carry too (tests/unit/test_reading.py holds the
# two to the same reading); read from the spec, so that serving never imports pydantic's models.
_DEFAULTS: Mapping[str, Any] = {
    name: field.get("default")
    for name, field in spec.load()["components"]["schemas"]["CreateCompletionRequest"]["properties"].items()
}

_NULL_IS_DEFAULT = ("n", "echo", "temperature", "top_p", "presence_penalty", "frequency_penalty")


class Asked(NamedTuple):
    """What a request asks, read from a body the spec's validator has accepted: no second parse.

    A field left out takes the spec's default. An explicit null takes it too for the fields in
    `_NULL_IS_DEFAULT`, as the API does; the others keep it (max_tokens: null means "up to the
    window"; best_of: null means n).
    """

    model: str
    prompt: Any
    suffix: str | None
    max_tokens: int | None
    n: int
    best_of: int | None  # as asked; None: left out or null
    stream: bool
    include_usage: bool
    logprobs: int | None
    echo: bool
    stop: tuple[str, ...]
    temperature: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, int] | None
    seed: int | None
    user: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Asked:
        read = {**_DEFAULTS, **body}  # a field left out is the spec's default
        for name in _NULL_IS_DEFAULT:
            if read[name] is None:
                read[name] = _DEFAULTS[name]
        stop = read["stop"]
        # Positional, in field order: keywords cost a NamedTuple three times as much (1.4 us here).
        return cls(
            read["model"],
            read["prompt"],
            read["suffix"],
            read["max_tokens"],
            read["n"],
            body.get("best_of"),  # left out means n, whatever default the spec writes down
            bool(read["stream"]),
            bool((read["stream_options"] or {}).get("include_usage")),
            read["logprobs"],
            read["echo"],
            (stop,) if isinstance(stop, str) else tuple(stop or ()),
            read["temperature"],
            read["top_p"],
            read["presence_penalty"],
            read["frequency_penalty"],
            read["logit_bias"],
            read["seed"],
            read["user"],
        )


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
    choices: list[Choice]  # per prompt p, best_of of them: choices[p * best_of + j]
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
        # best_of left out (or null) means n, whatever default the spec writes down.
        asked = request.best_of
        best_of = n if asked is None else asked
        if best_of < n:
            raise _invalid(f"best_of must be greater than or equal to n (best_of is {best_of}, n is {n}).", "best_of")
        if request.stream and asked is not None and asked > 1:
            raise _invalid("Cannot stream results with best_of greater than 1.", "best_of")
        echo = request.echo
        suffix: tuple[int, ...] = ()
        if request.suffix is not None:
            if not card.suffix:
                raise _invalid(f"The model `{name}` does not support the 'suffix' parameter.", "suffix")
            if echo:
                raise _invalid("'echo' and 'suffix' cannot be used together.", "suffix")
            suffix = tuple(engine.tokenizer.encode(request.suffix))
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
        budgets = [_budget(card, len(ids) + len(suffix), request.max_tokens) for ids in prompts]
        candidates = len(prompts) * best_of
        if sum(budgets) * best_of > MAX_REQUEST_TOKENS:
            if request.max_tokens is not None:
                raise ServerAPIError(
                    400,
                    f"This request asks for up to {sum(budgets) * best_of} tokens ({len(prompts)} prompts x "
                    f"best_of {best_of} x max_tokens {request.max_tokens}); this server generates at most "
                    f"{MAX_REQUEST_TOKENS} per request. Lower max_tokens, n, best_of or the number of prompts.",
                    param="max_tokens",
                    code="request_too_large",
                )
            # max_tokens null means "up to the window": here, up to an equal share of the cap.
            budgets = [min(b, MAX_REQUEST_TOKENS // candidates) for b in budgets]
        for p, ids in enumerate(prompts):
            max_tokens = budgets[p]
            for j in range(best_of):
                seed = None if request.seed is None else f"{request.seed}:{p}:{j}"
                # Positional, as in Asked.of: prompt, max_tokens, suffix, stop, logprobs, echo, score, seed, forced.
                choices.append(Choice(ids, max_tokens, suffix, request.stop, logprobs, echo, best_of > n, seed, forced))
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

    def record(self, completion_id: str, completion_tokens: int) -> None:
        if not logger.isEnabledFor(logging.INFO):  # its arguments cost more than the check
            return
        logger.info(
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


def _logprobs(tokens: Iterable[Token]) -> dict[str, list[Any]]:
    tokens = list(tokens)
    return {
        "tokens": [t.label for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [t.top for t in tokens],
        "text_offset": [t.offset for t in tokens],
    }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def complete(plan: Plan) -> dict[str, Any]:
    """The non-streamed response: every choice in full, the n best of best_of per prompt."""
    choices = []
    completion_tokens = 0
    for p, runs in enumerate(plan.runs()):
        done = [(run, run.whole()) for run in runs]
        completion_tokens += sum(run.sampled for run in runs)
        if plan.best_of > plan.n:
            done.sort(key=lambda item: item[0].mean_logprob, reverse=True)
        for j, (_, whole) in enumerate(done[: plan.n]):
            choices.append(
                {
                    "text": whole.text,
                    "index": p * plan.n + j,
                    "logprobs": None if plan.logprobs is None else _logprobs(whole.tokens),
                    "finish_reason": whole.finish_reason,
                }
            )
    body = {**plan.envelope(), "choices": choices, "usage": _usage(plan.prompt_tokens, completion_tokens)}
    plan.record(body["id"], completion_tokens)
    return body


async def stream(plan: Plan) -> AsyncIterator[bytes]:
    """Chunks as they are generated, choices interleaved as a real model's are."""
    include_usage = plan.request.include_usage
    base = plan.envelope()
    if include_usage:
        base["usage"] = None

    def chunk(index: int, piece: Piece) -> bytes:
        choice = {
            "index": index,
            "text": piece.text,
            "logprobs": None if plan.logprobs is None else _logprobs(piece.tokens),
            "finish_reason": piece.finish_reason,
        }
        return sse.event(orjson.dumps({**base, "choices": [choice]}))

    runs = [run for per_prompt in plan.runs() for run in per_prompt]  # best_of is n here
    try:
        running = [(index, run.pieces()) for index, run in enumerate(runs)]
        while running:
            for entry in list(running):
                if lifecycle.draining.is_set():
                    raise lifecycle.shutting_down()
                index, pieces = entry
                piece = next(pieces)
                yield chunk(index, piece)
                # uvicorn's send only suspends when the socket is full: without a turn for others
                # per event, a stream runs to its end in one go, new requests wait behind it (make
                # bench: TTFB p50 4.5 ms before, 2 ms after, events/s unchanged), and a client's
                # disconnect is not seen until then.
                await asyncio.sleep(0)
                if piece.finish_reason is not None:
                    running.remove(entry)
        completion_tokens = sum(run.sampled for run in runs)
        if include_usage:
            usage = {**base, "usage": _usage(plan.prompt_tokens, completion_tokens), "choices": []}
            yield sse.event(orjson.dumps(usage))
        plan.record(base["id"], completion_tokens)
    except Exception as exc:  # the status line is already sent: the error can only go in-band
        if isinstance(exc, ServerAPIError):
            error = exc
        else:
            error = ServerAPIError(500, "The server had an error while streaming.")
        if error.code != "server_shutting_down":
            logger.exception("stream %s failed", base["id"])
        yield sse.event(orjson.dumps(error.body()))
        return
    yield sse.DONE


async def answer(body: dict[str, Any], engine: Engine) -> Response:
    """The engine's answer to a request body: the built-in `stub` provider, shaped as `shaping.current` asks."""
    shape = shaping.current.get()
    plan = Plan.from_body(body, engine, None if shape is None else shape.text)
    if plan.request.stream:
        events = stream(plan) if shape is None or shape.pace is None else shape.pace(stream(plan))
        return StreamingResponse(events, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
    if plan.tokens <= INLINE_TOKENS:
        response = complete(plan)
    else:
        # Long generations are CPU work: off the event loop, so other connections are served meanwhile.
        response = await run_in_threadpool(complete, plan)
    return Response(orjson.dumps(response), media_type="application/json")


def operations(route: Route) -> dict[str, Callable[..., Awaitable[Response]]]:
    """operationId -> handler. Every request goes through the gateway's router, which may answer with the engine."""

    async def create_completion(body: dict[str, Any]) -> Response:
        return await route(current_request.headers, body)

    return {"createCompletion": create_completion}
