"""Saved prompts: a template filled from `variables`, over its hyperparameters, answered in the spec's envelope."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from starlette.responses import Response, StreamingResponse

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core import sse
from portkey_completions.gateway.prompts import Prompt, answered
from portkey_completions.gateway.store import Store
from support.calls import store_file

HAIKU = {"template": "A haiku about {{topic}}, for {{ name }}; {{topic}} again.", "hyperparameters": {"max_tokens": 9}}


def test_the_template_is_filled_over_the_prompts_hyperparameters_and_under_the_requests():
    prompt = Prompt.of({**HAIKU, "hyperparameters": {"model": "m", "max_tokens": 9, "temperature": 0.2}})
    assert prompt.variables() == ["topic", "name"]
    body = prompt.completion({"variables": {"topic": "rain", "name": "Bo"}, "max_tokens": 3, "stream": True})
    assert body == {
        "model": "m",
        "max_tokens": 3,  # the request's wins
        "temperature": 0.2,
        "stream": True,
        "prompt": "A haiku about rain, for Bo; rain again.",
    }


@pytest.mark.parametrize(
    ("value", "written"), [("x", "x"), (3, "3"), (True, "true"), (None, ""), (["a", 1], '["a",1]')]
)
def test_a_variable_is_written_as_mustache_writes_it(value, written):
    assert Prompt.of({"template": "<{{v}}>"}).completion({"variables": {"v": value}})["prompt"] == f"<{written}>"


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"variables": {"topic": "rain"}}, "variables.name"),  # one the template uses is missing
        ({"variables": {"topic": "rain", "name": "Bo", "mood": "calm"}}, "variables.mood"),  # one it does not use
        ({"variables": {"topic": "r", "name": "B"}, "hyperparameters": {"max_tokens": 2}}, "hyperparameters"),
        ({"variables": {"topic": "r", "name": "B"}, "prompt": "mine"}, "prompt"),
    ],
)
def test_a_request_that_does_not_fit_the_prompt_is_a_400_naming_what(request_body, param):
    with pytest.raises(ServerAPIError) as refused:
        Prompt.of(HAIKU).completion(request_body)
    assert refused.value.status == 400 and refused.value.param == param


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"template": ""}, "needs a template"),
        ({"template": "{{#items}}{{.}}{{/items}}"}, "{{variable}} only"),
        ({"template": "{{! a comment }} hi"}, "{{variable}} only"),
        ({"template": "hi", "hyperparameters": {"max_tokenz": 3}}, "'max_tokenz' is not a completion field"),
        ({"template": "hi", "hyperparameters": {"prompt": "x"}}, "'prompt' is not a completion field"),
        ({"template": "hi", "model": "m"}, "unknown key 'model'; known: hyperparameters, template, virtual_key"),
    ],
)
def test_a_prompt_that_cannot_be_rendered_right_is_refused_when_the_store_loads(entry, said):
    with pytest.raises(ValueError, match=said.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        Prompt.of(entry)


def test_a_store_file_holds_prompts_and_names_the_one_at_fault(tmp_path):
    data = {"api_keys": ["pk"], "virtual_keys": {"vk": {"provider": "stub"}}}
    store = Store.load(store_file(tmp_path, {**data, "prompts": {"pp-a": {**HAIKU, "virtual_key": "vk"}}}))
    assert store.prompts["pp-a"].virtual_key == "vk" and store.prompts["pp-a"].hyperparameters == {"max_tokens": 9}
    with pytest.raises(ValueError, match=r"prompts\.pp-b: virtual_key 'vk-gone' is not in virtual_keys"):
        Store.load(store_file(tmp_path, {**data, "prompts": {"pp-b": {"template": "x", "virtual_key": "vk-gone"}}}))
    with pytest.raises(ValueError, match=r"prompts\.pp-c\.template is required"):
        Store.load(store_file(tmp_path, {**data, "prompts": {"pp-c": {"hyperparameters": {}}}}))


COMPLETION = {"id": "cmpl-1", "object": "text_completion", "choices": [{"text": "hi"}]}


def test_a_completion_comes_back_in_the_specs_envelope():
    inner = Response(orjson.dumps(COMPLETION), media_type="application/json", headers={"x-request-id": "r1"})
    out = asyncio.run(answered(inner))
    assert orjson.loads(out.body) == {
        "status": "success",
        "headers": {"x-request-id": "r1", "content-type": "application/json"},
        "body": COMPLETION,
    }
    assert int(out.headers["content-length"]) == len(out.body)


def test_an_answer_that_comes_in_pieces_is_put_together_first():
    async def pieces():  # each kind of chunk Starlette takes
        raw = orjson.dumps(COMPLETION)
        yield raw[:10]
        yield raw[10:20].decode()
        yield memoryview(raw[20:])

    out = asyncio.run(answered(StreamingResponse(pieces(), media_type="application/json")))
    assert orjson.loads(out.body)["body"] == COMPLETION


def test_a_stream_and_an_error_pass_as_they_are():
    stream = StreamingResponse(iter([b"data: [DONE]\n\n"]), media_type=sse.MEDIA_TYPE)
    error = ServerAPIError(429, "slow down").response()
    assert asyncio.run(answered(stream)) is stream
    assert asyncio.run(answered(error)) is error
