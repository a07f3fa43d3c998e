"""The engine reads a request straight from the body the validator accepted; the generated models must agree.

`reading.Asked.of` replaced a pydantic parse of every body (about 28 µs a request). The
generated `CreateCompletionRequest` still describes the body: for every drawn body the spec's
validator accepts, the model's reading (the handler's former code) gives the same request.
"""

from __future__ import annotations

from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

from portkey_completions.server.fastpath import compile_request_validator
from portkey_completions.stub.reading import Asked
from portkey_completions_spec import models
from support.bodies import FIELDS as NAMES
from support.bodies import bodies

# Fields left out too: an omitted field and an explicit null are read differently.
trimmed = st.tuples(bodies, st.sets(st.sampled_from([n for n in NAMES if n != "model"]))).map(
    lambda drawn: {k: v for k, v in drawn[0].items() if k not in drawn[1]}
)

VALID = compile_request_validator()
FIELDS = models.CreateCompletionRequest.model_fields


def _unwrap(value: Any) -> Any:
    # datamodel-codegen wraps some oneOf branches in RootModels.
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value.root if isinstance(value, pydantic.RootModel) else value


def read_with_the_models(body: dict[str, Any]) -> Asked:
    request = models.CreateCompletionRequest.model_validate(body)

    def or_default(name: str) -> Any:
        value = getattr(request, name)
        return FIELDS[name].default if value is None else value

    stop = _unwrap(request.stop)
    return Asked(
        model=str(_unwrap(request.model)),
        prompt=_unwrap(request.prompt),
        suffix=getattr(request, "suffix", None),  # a spec without `suffix` has no such field
        max_tokens=request.max_tokens,
        n=or_default("n"),
        best_of=request.best_of if "best_of" in request.model_fields_set else None,
        stream=bool(request.stream),
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
        logprobs=request.logprobs,
        echo=or_default("echo"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        temperature=or_default("temperature"),
        top_p=or_default("top_p"),
        presence_penalty=or_default("presence_penalty"),
        frequency_penalty=or_default("frequency_penalty"),
        logit_bias=request.logit_bias,
        seed=request.seed,
        user=request.user,
    )


@settings(max_examples=400)
@given(body=trimmed)
def test_the_body_reading_and_the_generated_models_agree(body):
    if not VALID(body):
        return  # refused before the engine reads anything
    assert Asked.of(body) == read_with_the_models(body), body


def test_an_omitted_field_and_an_explicit_null_differ_where_the_api_says_so():
    base = {"model": "gpt-3.5-turbo-instruct"}
    assert Asked.of(base).max_tokens == FIELDS["max_tokens"].default  # left out: the spec's 16
    assert Asked.of({**base, "max_tokens": None}).max_tokens is None  # null: up to the window
    assert Asked.of({**base, "n": None}).n == 1  # null takes the default, as the API does
