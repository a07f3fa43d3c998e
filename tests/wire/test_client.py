"""portkey_completions.client against real servers on loopback: the stub, and a scripted upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from portkey_completions.client import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncCompletions,
    AuthenticationError,
    BadRequestError,
    Completions,
    InternalServerError,
    NotFoundError,
    ParameterError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
)
from portkey_completions.core.alternatives import Alternative
from portkey_completions.testing import credentials
from portkey_completions.testing.serving import wait_until
from portkey_completions_client.models import CreateCompletionChunk, CreateCompletionResponse
from support import BASE, NO_END, NOWHERE
from support.scripted import Scripted, error_body, sse, text_chunk

pytestmark = pytest.mark.wire

# The four alternatives, as constructor arguments (the testing kit's credentials), by a test id.
NAMES = {"virtual key": "virtual_key", "provider": "provider", "config": "config", "custom host": "custom_host"}
ALTERNATIVES: dict[str, dict[str, Any]] = {name: dict(credentials.ARGS[Alternative(a)]) for name, a in NAMES.items()}
ALTERNATIVES["custom host"]["custom_host"] = NOWHERE
PARAMS = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5, "logit_bias": NO_END}


# -- construction: exactly one alternative -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"virtual_key": "vk", "config": "pc-1"},
        {"provider": "openai"},
        {"authorization": "sk"},
        {"custom_host": "http://h"},
        {"provider": "openai", "custom_host": "http://h"},
        {"virtual_key": "vk", "provider": "openai", "authorization": "sk"},
        {"virtual_key": " "},
    ],
)
def test_a_wrong_combination_is_refused_before_any_request(kwargs):
    with pytest.raises(ValueError, match=r"alternative|empty"):
        Completions(api_key="pk", **kwargs)


def test_api_key_is_required():
    with pytest.raises(ValueError, match="api_key"):
        Completions(api_key="", virtual_key="vk")


# -- the stub server: every alternative, create and stream, sync and async ----------------------


def routed(name: str, upstream: str) -> dict[str, Any]:
    """The alternative's arguments; a custom host must be a live upstream, since the server forwards there."""
    kwargs = dict(ALTERNATIVES[name])
    if "custom_host" in kwargs:
        kwargs["custom_host"] = f"{upstream}{BASE}"
    return kwargs


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_create_with_each_alternative(server, upstream, name):
    with Completions(api_key=credentials.API_KEY, base_url=f"{server}{BASE}", **routed(name, upstream)) as client:
        completion = client.create(**PARAMS)
    assert isinstance(completion, CreateCompletionResponse)
    assert completion.usage.completion_tokens == 5
    assert completion.choices[0].finish_reason.value == "length"


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_stream_with_each_alternative(server, upstream, name):
    with Completions(api_key=credentials.API_KEY, base_url=f"{server}{BASE}", **routed(name, upstream)) as client:
        chunks = list(client.stream(**PARAMS))
    assert all(isinstance(c, CreateCompletionChunk) for c in chunks)
    assert chunks[-1].choices[0].finish_reason.value == "length"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_stream_equals_create_for_a_seed(server):
    with Completions(api_key=credentials.API_KEY, base_url=f"{server}{BASE}", virtual_key="vk") as client:
        params = {**PARAMS, "seed": 9, "temperature": 1.2, "max_tokens": 30}
        whole = client.create(**params)
        parts = "".join(c.choices[0].text for c in client.stream(**params))
    assert parts == whole.choices[0].text


def test_async_create_and_stream(server):
    async def main() -> tuple[CreateCompletionResponse, list[CreateCompletionChunk]]:
        async with AsyncCompletions(
            api_key=credentials.API_KEY, base_url=f"{server}{BASE}", virtual_key="vk"
        ) as client:
            completion = await client.create(**PARAMS)
            async with await client.stream(**PARAMS) as stream:
                chunks = [c async for c in stream]
        return completion, chunks

    completion, chunks = asyncio.run(main())
    assert completion.usage.completion_tokens == 5
    assert "".join(c.choices[0].text for c in chunks) and chunks[-1].choices[0].finish_reason.value == "length"


def test_server_errors_are_typed(server):
    with Completions(api_key=credentials.API_KEY, base_url=f"{server}{BASE}", virtual_key="vk") as client:
        with pytest.raises(NotFoundError) as info:
            client.create(model="gpt-5-instruct", prompt="x")
        assert info.value.status_code == 404 and info.value.code == "model_not_found" and info.value.param == "model"
        with pytest.raises(BadRequestError) as info:
            client.create(model="gpt-3.5-turbo-instruct", prompt="x", n=3, best_of=2)
        assert info.value.param == "best_of" and info.value.type == "invalid_request_error"


# -- what goes on the wire -----------------------------------------------------------------------


def test_only_what_the_caller_set_is_sent(scripted):
    scripted.script([])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
        client.create(model="gpt-3.5-turbo-instruct", prompt="hi")
        client.create(model="gpt-3.5-turbo-instruct", prompt=None, stop=None, n=2)
    first, second = scripted.log()
    assert first["body"] == {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}
    assert second["body"] == {"model": "gpt-3.5-turbo-instruct", "prompt": None, "stop": None, "n": 2}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "temperature": 2.5}, "temperature"),
        ({"prompt": "x", "logprobs": 6}, "logprobs"),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({}, "prompt"),
        ({"prompt": "x", "tempreature": 1}, "tempreature"),
        ({"prompt": "x", "stream": True}, "stream"),
    ],
)
def test_parameters_are_checked_against_the_spec_before_sending(scripted, params, param):
    scripted.script([])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
        with pytest.raises(ParameterError) as info:
            client.create(model="gpt-3.5-turbo-instruct", **params)
    assert info.value.param == param and param in str(info.value)
    assert scripted.log() == []


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_headers_of_each_alternative_and_the_extras(scripted, name):
    scripted.script([])
    extras = {"trace_id": "trace-1", "metadata": {"team": "a"}, "request_timeout": 2.5}
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", **ALTERNATIVES[name], **extras) as client:
        client.create(model="m", prompt="x")
    [entry] = scripted.log()
    headers = entry["headers"]
    assert headers["x-portkey-api-key"] == "pk"
    assert headers["x-portkey-trace-id"] == "trace-1"
    assert json.loads(headers["x-portkey-metadata"]) == {"team": "a"}
    assert headers["x-portkey-request-timeout"] == "2500"
    # What a raw HTTP client of the same alternative sends, but the API key (this test's own).
    expected = credentials.headers(NAMES[name], custom_host=NOWHERE)
    del expected["x-portkey-api-key"]
    assert {k: headers.get(k) for k in expected} == expected
    others = {"x-portkey-virtual-key", "authorization", "x-portkey-provider", "x-portkey-config"} - set(expected)
    assert not others & set(headers)


# -- errors: one class per status family ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (408, RequestTimeoutError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (415, APIError),
    ],
)
def test_each_status_raises_its_class(scripted, status, cls):
    body = error_body(f"scripted {status}", "some_error", param="p", code="c")
    scripted.script([{"status": status, "body": body}])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=0) as client:
        with pytest.raises(cls) as info:
            client.create(model="m", prompt="x")
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.message, error.type, error.param, error.code) == (
        status,
        f"scripted {status}",
        "some_error",
        "p",
        "c",
    )


def test_a_body_that_is_not_json_still_gives_a_typed_error(scripted):
    scripted.script([{"status": 502, "body": "upstream fell over"}])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=0) as client:
        with pytest.raises(InternalServerError, match="upstream fell over"):
            client.create(model="m", prompt="x")


def test_connection_refused_is_a_connection_error():
    with Completions(api_key="pk", base_url="http://127.0.0.1:9/v1", virtual_key="vk", retries=0) as client:
        with pytest.raises(APIConnectionError):
            client.create(model="m", prompt="x")


def test_a_slow_server_is_a_timeout(scripted):
    scripted.script([{"delay": 2}])
    with Completions(
        api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=0, timeout=0.3
    ) as client:
        with pytest.raises(APITimeoutError):
            client.create(model="m", prompt="x")


# -- an early break closes the connection: the server sees it ----------------------------------


def slow_stream(n: int = 200) -> dict[str, Any]:
    return {"events": sse(*(text_chunk(f"t{i} ") for i in range(n))), "interval": 0.02}


def wait_for_disconnect(scripted: Scripted) -> dict[str, Any]:
    def disconnected() -> dict[str, Any] | None:
        [entry] = scripted.log()
        return entry if entry.get("disconnected") else None

    return wait_until(disconnected, timeout=5, what="the scripted server to see the client go")


def first_two(stream: Iterator[CreateCompletionChunk]) -> list[str]:
    texts = []
    for chunk in stream:
        texts.append(chunk.choices[0].text)
        if len(texts) == 2:
            break
    return texts


def test_breaking_out_of_a_stream_closes_the_connection(scripted):
    scripted.script([slow_stream()])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
        assert first_two(client.stream(model="m", prompt="x")) == ["t0 ", "t1 "]
        entry = wait_for_disconnect(scripted)
    assert entry["sent"] < 100


def test_leaving_a_stream_context_closes_the_connection(scripted):
    scripted.script([slow_stream()])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
        with client.stream(model="m", prompt="x") as stream:
            next(stream)
        entry = wait_for_disconnect(scripted)
    assert entry["sent"] < 100


def test_breaking_out_of_an_async_stream_closes_the_connection(scripted):
    scripted.script([slow_stream()])

    async def main() -> dict[str, Any]:
        async with AsyncCompletions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
            async with await client.stream(model="m", prompt="x") as stream:
                async for _ in stream:
                    break
            return await asyncio.to_thread(wait_for_disconnect, scripted)

    assert asyncio.run(main())["sent"] < 100
