"""The client's SSE decoding: raw bytes split at every position give the same chunks, sync and async.

WHATWG framing (CR, LF, CRLF, comments, multi-line data, event/id/retry) comes from httpx-sse;
these tests hold the whole path, bytes to typed chunks, to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from portkey_completions.client import APIConnectionError, BadRequestError, PortkeyError
from portkey_completions.client.streaming import AsyncStream, Stream


def chunk_json(text: str, finish_reason: str | None = None) -> str:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        },
        ensure_ascii=False,
    )


first = chunk_json("Hello")
split_at = first.index('"object"')
RAW = (
    "\ufeff: a comment, then every field the format has\r\n"
    "event: completion\r\n"
    "id: 1\r\n"
    "retry: 1000\r\n"
    # One JSON value over two data lines: they join with a newline, which JSON reads as space.
    f"data: {first[:split_at]}\r\n"
    f"data:{first[split_at:]}\r\n"
    "\r\n"
    f"data: {chunk_json(' wörld 🙂')}\n\n"
    ":keep-alive\r"
    "\r"
    f"data: {chunk_json('!', 'stop')}\r\r"
    "data: [DONE]\n\n"
    f"data: {chunk_json('after the end')}\n\n"
).encode()
EXPECTED = ["Hello", " wörld 🙂", "!"]


def response(parts: list[bytes] | AsyncIterator[bytes] | Iterator[bytes]) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=parts,
        request=httpx.Request("POST", "http://127.0.0.1/v1/completions"),
    )


def texts(parts: list[bytes]) -> list[str]:
    return [c.choices[0].text for c in Stream(response(iter(parts)))]


async def atexts(parts: list[bytes]) -> list[str]:
    async def gen() -> AsyncIterator[bytes]:
        for p in parts:
            yield p

    return [c.choices[0].text async for c in AsyncStream(response(gen()))]


def splits(raw: bytes) -> Iterator[list[bytes]]:
    for i in range(len(raw) + 1):
        yield [raw[:i], raw[i:]]


def test_split_at_every_position_sync():
    for parts in splits(RAW):
        assert texts(parts) == EXPECTED, parts


def test_split_at_every_position_async():
    async def main() -> None:
        for parts in splits(RAW):
            assert await atexts(parts) == EXPECTED, parts

    asyncio.run(main())


def test_byte_by_byte_and_three_way_splits():
    single = [RAW[i : i + 1] for i in range(len(RAW))]
    assert texts(single) == EXPECTED
    assert asyncio.run(atexts(single)) == EXPECTED
    step = max(1, len(RAW) // 40)
    for i in range(0, len(RAW), step):
        for j in range(i, len(RAW), step):
            assert texts([RAW[:i], RAW[i:j], RAW[j:]]) == EXPECTED


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_every_line_ending(newline):
    raw = (f"data: {chunk_json('a')}{newline}{newline}data: [DONE]{newline}{newline}").encode()
    for parts in splits(raw):
        assert texts(parts) == ["a"]


def test_a_stream_cut_before_done_raises():
    raw = f"data: {chunk_json('a')}\n\n".encode()
    stream = Stream(response(iter([raw])))
    assert next(stream).choices[0].text == "a"
    with pytest.raises(APIConnectionError, match="DONE"):
        next(stream)


def test_an_unfinished_event_at_the_end_is_not_a_chunk():
    raw = f"data: {chunk_json('a')}\n\ndata: {chunk_json('b')}".encode()  # no blank line after b
    with pytest.raises(APIConnectionError):
        texts([raw])


def test_an_error_event_raises_its_class_sync_and_async():
    error = {"error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": None}}
    raw = f"data: {chunk_json('a')}\n\ndata: {json.dumps(error)}\n\n".encode()
    with pytest.raises(BadRequestError, match="bad") as info:
        texts([raw])
    assert info.value.param == "n"
    with pytest.raises(BadRequestError):
        asyncio.run(atexts([raw]))


def test_an_event_that_is_not_a_chunk_raises():
    with pytest.raises(PortkeyError, match="not JSON"):
        texts([b"data: {oops\n\n"])
    with pytest.raises(PortkeyError, match="not a completion chunk"):
        texts([b'data: {"id": 1}\n\n'])


def test_the_response_is_closed_on_every_path():
    done = response(iter([b"data: [DONE]\n\n"]))
    assert list(Stream(done)) == []
    assert done.is_closed
    failed = response(iter([b"data: {oops\n\n"]))
    with pytest.raises(PortkeyError):
        list(Stream(failed))
    assert failed.is_closed
    early = response(iter([RAW]))
    with Stream(early) as stream:
        next(stream)
    assert early.is_closed
