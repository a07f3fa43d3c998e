"""The createCompletion operation: a validated request in, a completion or an SSE stream out."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
from starlette.responses import Response, StreamingResponse

from portkey_completions_spec import models

from . import engine, sse
from .errors import APIError

SYSTEM_FINGERPRINT = "fp_portkey_stub"

_FIELDS = models.CreateCompletionRequest.model_fields


def _or_default(request: models.CreateCompletionRequest, name: str):
    """An explicit null takes the spec's default, as the API does."""
    value = getattr(request, name)
    return _FIELDS[name].default if value is None else value


def _unwrap(value):
    # datamodel-codegen wraps some oneOf branches in RootModels.
    return value.root if isinstance(value, pydantic.RootModel) else value


def prompt_texts(prompt) -> list[str]:
    """The spec's four prompt forms (and null) as a list of prompt texts."""
    prompt = _unwrap(prompt)
    if prompt is None:
        return [engine.ENDOFTEXT]
    if isinstance(prompt, str):
        return [prompt]
    items = [_unwrap(p) for p in prompt]
    if items and all(isinstance(i, int) for i in items):
        return [engine.token_ids_text(items)]
    return [p if isinstance(p, str) else engine.token_ids_text(p) for p in items]


@dataclass(frozen=True)
class Plan:
    """A request resolved into what to generate: one entry per choice, in index order."""

    request: models.CreateCompletionRequest
    prompts: list[str]
    n: int
    echo: bool
    sampling: engine.Sampling

    @classmethod
    def from_body(cls, body: dict) -> Plan:
        try:
            request = models.CreateCompletionRequest.model_validate(body)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or None
            raise APIError(400, f"{first['msg']} - '{param}'", param=param) from None
        stop = _unwrap(request.stop)
        return cls(
            request=request,
            prompts=prompt_texts(request.prompt),
            n=_or_default(request, "n"),
            echo=_or_default(request, "echo"),
            sampling=engine.Sampling(
                max_tokens=request.max_tokens,
                stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
                seed=request.seed,
            ),
        )

    @property
    def model(self) -> str:
        return str(_unwrap(self.request.model))

    def envelope(self) -> dict[str, Any]:
        """The fields a response and every chunk of a stream share."""
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def choices(self) -> Iterator[tuple[int, str]]:
        """(index, prompt) for every choice: index = prompt_index * n + j."""
        for p, prompt in enumerate(self.prompts):
            for j in range(self.n):
                yield p * self.n + j, prompt

    def prompt_tokens(self) -> int:
        return sum(engine.count(p) for p in self.prompts)


def _usage(prompt_tokens: int, completion_tokens: int) -> models.CompletionUsage:
    return models.CompletionUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def complete(plan: Plan) -> models.CreateCompletionResponse:
    choices = []
    completion_tokens = 0
    for index, prompt in plan.choices():
        pieces = list(engine.generate(prompt, plan.sampling, index))
        completion_tokens += len([p for p, _ in pieces if p])
        text = "".join(p for p, _ in pieces)
        choices.append(
            models.Choice(
                index=index,
                text=prompt + text if plan.echo else text,
                logprobs=None,
                finish_reason=pieces[-1][1],
            )
        )
    return models.CreateCompletionResponse(
        **plan.envelope(), choices=choices, usage=_usage(plan.prompt_tokens(), completion_tokens)
    )


async def stream(plan: Plan) -> AsyncIterator[bytes]:
    """Chunks as they are generated, choices interleaved as a real model's are."""
    include_usage = bool(plan.request.stream_options and plan.request.stream_options.include_usage)
    base = plan.envelope()
    if include_usage:
        base["usage"] = None

    def chunk(index: int, text: str, finish_reason: str | None) -> bytes:
        choice = models.CreateCompletionChunkChoice(index=index, text=text, logprobs=None, finish_reason=finish_reason)
        body = models.CreateCompletionChunk(**base, choices=[choice])
        return sse.event(body.model_dump_json(exclude_unset=True))

    try:
        running = []
        for index, prompt in plan.choices():
            if plan.echo:
                yield chunk(index, prompt, None)
            running.append((index, engine.generate(prompt, plan.sampling, index)))
        completion_tokens = 0
        while running:
            for entry in list(running):
                index, pieces = entry
                piece, finish_reason = next(pieces)
                completion_tokens += bool(piece)
                yield chunk(index, piece, finish_reason)
                if finish_reason is not None:
                    running.remove(entry)
        if include_usage:
            usage = models.CreateCompletionChunk(
                **{**base, "usage": _usage(plan.prompt_tokens(), completion_tokens)}, choices=[]
            )
            yield sse.event(usage.model_dump_json(exclude_unset=True))
    except Exception as exc:  # the status line is already sent: the error can only go in-band
        error = exc if isinstance(exc, APIError) else APIError(500, "The server had an error while streaming.")
        yield sse.event(models.ErrorResponse.model_validate(error.body()).model_dump_json())
        return
    yield sse.DONE


async def create_completion(body: dict) -> Response:
    """Bound to operationId createCompletion by the resolver in app.py."""
    plan = Plan.from_body(body)
    if plan.request.stream:
        return StreamingResponse(stream(plan), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
    return Response(complete(plan).model_dump_json(exclude_unset=True), media_type="application/json")
