"""Every kind of answer under the base path carries Portkey's response headers, whichever layer made it.

The trace id (the caller's, kept), the retry attempt count and the cache status on every one; a
routed answer also names the provider and the last used option index. One writer makes them
(`call.portkey_headers`), from the call record; this walks every kind of answer to hold it to that.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from portkey_completions.app import create_app
from portkey_completions.gateway.store import Store, VirtualKey
from support import BASE, BODY

KEY = {"x-portkey-api-key": "pk-ok"}
STUB_KEY = {**KEY, "x-portkey-virtual-key": "vk-stub"}
ALWAYS = ("x-portkey-trace-id", "x-portkey-retry-attempt-count", "x-portkey-cache-status")
ROUTED = ("x-portkey-provider", "x-portkey-last-used-option-index")


@pytest.fixture(scope="module")
def app():
    store = Store(api_keys=("pk-ok",), virtual_keys={"vk-stub": VirtualKey("stub")})
    return create_app(store=store, max_body_bytes=4096, body_timeout=0.3, validate_responses=True)


async def _slow_body(_body=None):
    yield b'{"model": '
    await asyncio.sleep(2)  # past the body timeout: 408
    yield b'"gpt-3.5-turbo-instruct"}'


def _chunked(body):
    async def chunks():
        raw = json.dumps(body).encode()
        yield raw[:5]
        yield raw[5:]

    return chunks()


KINDS = {
    # name: (method, path, headers, body or content, expected status, routed)
    "200 fast path": ("POST", "/completions", STUB_KEY, BODY, 200, True),
    "200 connexion's path": ("POST", "/completions", STUB_KEY, _chunked, 200, True),
    "200 streamed": ("POST", "/completions", STUB_KEY, {**BODY, "stream": True}, 200, True),
    "401 from auth": ("POST", "/completions", KEY, BODY, 401, False),
    "401 from the store": ("POST", "/completions", {**STUB_KEY, "x-portkey-api-key": "pk-nope"}, BODY, 401, False),
    "401 unknown virtual key": ("POST", "/completions", {**KEY, "x-portkey-virtual-key": "vk-nope"}, BODY, 401, False),
    "400 body": ("POST", "/completions", STUB_KEY, {**BODY, "max_tokens": "seven"}, 400, False),
    "400 config": ("POST", "/completions", {**KEY, "x-portkey-config": '{"strategy": 3}'}, BODY, 400, False),
    "404": ("POST", "/nowhere", STUB_KEY, BODY, 404, False),
    "405": ("GET", "/completions", STUB_KEY, None, 405, False),
    "413": ("POST", "/completions", STUB_KEY, {**BODY, "prompt": "x" * 5000}, 413, False),
    "408": ("POST", "/completions", STUB_KEY, _slow_body, 408, False),
    "415 no content type": ("POST", "/completions", STUB_KEY, json.dumps(BODY).encode(), 415, False),
    "scenario 5xx": ("POST", "/completions", {**STUB_KEY, "prefer": "code=503"}, BODY, 503, False),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_answer_carries_portkey_headers(app, kind):
    method, path, headers, body, status, routed = KINDS[kind]
    headers = {**headers, "x-portkey-trace-id": f"trace-{kind.replace(' ', '-')}"}

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            if isinstance(body, bytes):
                return await client.request(method, BASE + path, headers=headers, content=body)
            if callable(body):
                chunked = {**headers, "content-type": "application/json"}
                return await client.request(method, BASE + path, headers=chunked, content=body(BODY))
            return await client.request(method, BASE + path, headers=headers, json=body)

    response = asyncio.run(ask())
    assert response.status_code == status, response.text
    assert response.headers["x-portkey-trace-id"] == headers["x-portkey-trace-id"]
    for name in ALWAYS:
        assert name in response.headers, f"{kind}: {name} missing"
    assert response.headers["x-portkey-retry-attempt-count"] == "0"
    assert response.headers["x-portkey-cache-status"] == "DISABLED"
    for name in ROUTED:
        assert (name in response.headers) is routed, f"{kind}: {name}"
    if routed:
        assert response.headers["x-portkey-provider"] == "stub"
        assert response.headers["x-portkey-last-used-option-index"] == "config"
    if status >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
