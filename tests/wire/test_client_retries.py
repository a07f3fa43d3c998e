"""The client's retries and its async errors, against the scripted upstream and a failing transport."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from portkey_completions.client import (
    APIConnectionError,
    AsyncCompletions,
    BadRequestError,
    Completions,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    Retries,
)
from support import BASE, COMPLETIONS
from support.scripted import error_body, sse, text_chunk
from support.scripted_server import COMPLETION

pytestmark = pytest.mark.wire


# -- retries ------------------------------------------------------------------------------------


def fast(n: int = 3) -> Retries:
    return Retries(max_retries=n, initial_delay=0.01, max_delay=0.05)


def test_retries_429_and_500_honouring_retry_after(scripted):
    scripted.script(
        [
            {"status": 429, "headers": {"Retry-After": "1"}, "body": error_body("slow down", "rate_limit_error")},
            {"status": 500, "body": error_body("oops", "server_error")},
        ],
    )
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()) as client:
        completion = client.create(model="m", prompt="x")
    assert completion.choices[0].text == "scripted"
    times = [entry["time"] for entry in scripted.log()]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95  # Retry-After: 1
    assert times[2] - times[1] < 0.9  # backoff, no Retry-After


def test_retries_give_up_with_the_last_error(scripted):
    scripted.script([{"status": 503, "body": error_body(f"down {i}", "server_error")} for i in range(3)])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast(2)) as client:
        with pytest.raises(InternalServerError, match="down 2"):
            client.create(model="m", prompt="x")
    assert len(scripted.log()) == 3


def test_a_retry_after_beyond_max_wait_is_not_waited_for(scripted):
    scripted.script([{"status": 429, "headers": {"Retry-After": "3600"}, "body": error_body("later", "x")}])
    started = time.monotonic()
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()) as client:
        with pytest.raises(RateLimitError):
            client.create(model="m", prompt="x")
    assert time.monotonic() - started < 5 and len(scripted.log()) == 1


def test_400_is_not_retried(scripted):
    scripted.script([{"status": 400, "body": error_body("bad", "invalid_request_error")}])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()) as client:
        with pytest.raises(BadRequestError):
            client.create(model="m", prompt="x")
    assert len(scripted.log()) == 1


def test_a_stream_is_retried_before_its_first_event(scripted):
    scripted.script(
        [{"status": 503, "body": error_body("busy", "server_error")}, {"events": sse(text_chunk("a", "stop"))}],
    )
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()) as client:
        chunks = list(client.stream(model="m", prompt="x"))
    assert [c.choices[0].text for c in chunks] == ["a"]
    assert len(scripted.log()) == 2


def test_a_stream_is_never_retried_after_its_first_event(scripted):
    scripted.script([{"events": sse(text_chunk("a"), done=False), "cut": True}])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()) as client:
        stream = client.stream(model="m", prompt="x")
        assert next(stream).choices[0].text == "a"
        with pytest.raises(APIConnectionError):
            next(stream)
    assert len(scripted.log()) == 1


def test_an_error_event_raises(scripted):
    events = [*sse(text_chunk("a"), done=False), f"data: {json.dumps(error_body('boom', 'server_error'))}"]
    scripted.script([{"events": events}])
    with Completions(api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk") as client:
        stream = client.stream(model="m", prompt="x")
        next(stream)
        with pytest.raises(InternalServerError, match="boom") as info:
            next(stream)
    assert info.value.status_code is None


def test_async_retries_and_errors(scripted):
    scripted.script(
        [
            {"status": 429, "headers": {"Retry-After": "0.2"}, "body": error_body("slow", "rate_limit_error")},
            {"status": 404, "body": error_body("no such model", "invalid_request_error", "model", "model_not_found")},
        ],
    )

    async def main() -> None:
        async with AsyncCompletions(
            api_key="pk", base_url=f"{scripted.url}{BASE}", virtual_key="vk", retries=fast()
        ) as client:
            with pytest.raises(NotFoundError) as info:
                await client.create(model="m", prompt="x")
            assert info.value.code == "model_not_found"

    asyncio.run(main())
    first, second = scripted.log()
    assert second["time"] - first["time"] >= 0.19


def test_connection_errors_are_retried():
    """A transport that fails twice, then answers: the third try is the one that counts."""
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=json.loads(json.dumps(COMPLETION)))

    base_url = f"http://upstream.test{BASE}"
    client = Completions(api_key="pk", virtual_key="vk", base_url=base_url, retries=fast())
    client.client.set_httpx_client(httpx.Client(base_url=base_url, transport=httpx.MockTransport(handler)))
    with client:
        assert client.create(model="m", prompt="x").choices[0].text == "scripted"
    assert len(attempts) == 3
    assert all(a.url.path == COMPLETIONS for a in attempts)
