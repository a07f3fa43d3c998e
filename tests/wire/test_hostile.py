"""Hostile input over the wire: every refusal is its exact status and OpenAI error type, never a 500.

Each case is sent as raw bytes (headers included) to a real server on loopback, so nothing in a
client library tidies it up first. Caps are the documented ones: errors.MAX_MESSAGE,
config.MAX_NODES / MAX_DEPTH / MAX_WEIGHT / MAX_TIMEOUT_MS, plan.MAX_REQUEST_TOKENS.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from portkey_completions.call.errors import MAX_MESSAGE
from portkey_completions.gateway import config as configs
from support import BASE, COMPLETIONS

pytestmark = pytest.mark.wire

MODEL = "gpt-3.5-turbo-instruct"
VK = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk"}
CUSTOM = {"x-portkey-api-key": "pk", "authorization": "Bearer sk", "x-portkey-provider": "openai"}


def body(**fields: Any) -> bytes:
    return json.dumps({"model": MODEL, "prompt": "x", "max_tokens": 1, **fields}).encode()


def nested_targets(depth: int) -> str:
    node: dict[str, Any] = {"provider": "stub"}
    for _ in range(depth):
        node = {"strategy": {"mode": "single"}, "targets": [node]}
    return json.dumps(node)


def config_with(**fields: Any) -> str:
    return json.dumps({"provider": "stub", **fields})


# (id, headers, body, status, type, code, param)
CASES: list[tuple[str, dict[str, Any], bytes, int, str, str | None, str | None]] = [
    # bodies
    ("deep-json-100k", VK, b'{"model": "m", "prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     400, "invalid_request_error", None, None),
    ("deep-json-top", VK, b"[" * 50_000 + b"]" * 50_000, 400, "invalid_request_error", None, None),
    ("deep-json-100", VK, body(prompt=json.loads("[" * 100 + "]" * 100)), 400, "invalid_request_error", None, None),
    ("invalid-utf8-body", VK, b'{"model": "' + MODEL.encode() + b'", "prompt": "\xff\xfe"}',
     400, "invalid_request_error", None, None),
    ("nan-literal", VK, body()[:-1] + b', "temperature": NaN}', 400, "invalid_request_error", None, "temperature"),
    ("n-best-of-tokens", VK, body(model="babbage-002", n=20, best_of=20, max_tokens=10_000), 400,
     "invalid_request_error", "request_too_large", "max_tokens"),
    ("model-1mb", VK, body(model="m" * 900_000), 404, "invalid_request_error", "model_not_found", "model"),
    # headers that are not UTF-8
    ("api-key-not-utf8", {**VK, "x-portkey-api-key": b"pk-\xff\xfe"}, body(), 400, "invalid_request_error",
     "invalid_header", "x-portkey-api-key"),
    ("bearer-not-utf8", {**CUSTOM, "authorization": b"Bearer \xc3\x28"}, body(), 400, "invalid_request_error",
     "invalid_header", "authorization"),
    ("config-not-utf8", {"x-portkey-api-key": "pk", "x-portkey-config": b'{"provider": "\xff"}'}, body(), 400,
     "invalid_request_error", "invalid_header", "x-portkey-config"),
    # Portkey configs
    ("config-deep-json", {"x-portkey-api-key": "pk", "x-portkey-config": '{"a":' * 5000 + "1" + "}" * 5000}, body(),
     400, "invalid_request_error", "invalid_config", "x-portkey-config"),
    ("config-too-many-nodes", {"x-portkey-api-key": "pk", "x-portkey-config": json.dumps(
        {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}] * configs.MAX_NODES})}, body(),
     400, "invalid_request_error", "invalid_config", "x-portkey-config"),
    ("config-too-deep", {"x-portkey-api-key": "pk", "x-portkey-config": nested_targets(configs.MAX_DEPTH + 1)}, body(),
     400, "invalid_request_error", "invalid_config", "x-portkey-config"),
    ("config-weight-huge", {"x-portkey-api-key": "pk", "x-portkey-config": config_with(weight=10**400)}, body(),
     400, "invalid_request_error", "invalid_config", "x-portkey-config"),
    ("config-timeout-huge", {"x-portkey-api-key": "pk", "x-portkey-config": config_with(request_timeout=10**30)},
     body(), 400, "invalid_request_error", "invalid_config", "x-portkey-config"),
    # other Portkey headers
    ("request-timeout-nan", {**VK, "x-portkey-request-timeout": "nan"}, body(), 400, "invalid_request_error", None,
     "x-portkey-request-timeout"),
    ("request-timeout-negative", {**VK, "x-portkey-request-timeout": "-5"}, body(), 400, "invalid_request_error",
     None, "x-portkey-request-timeout"),
    ("custom-host-not-ascii", {**CUSTOM, "x-portkey-custom-host": "http://b\u00fccher.example/v1".encode()}, body(),
     400, "invalid_request_error", "custom_host_refused", "x-portkey-custom-host"),
    ("custom-host-empty-label", {**CUSTOM, "x-portkey-custom-host": "http://a..b.example/v1"}, body(), 400,
     "invalid_request_error", "custom_host_refused", "x-portkey-custom-host"),
    ("custom-host-long-label", {**CUSTOM, "x-portkey-custom-host": f"http://{'a' * 64}.example{BASE}"}, body(), 400,
     "invalid_request_error", "custom_host_refused", "x-portkey-custom-host"),
    ("headers-over-64k", {**VK, "x-filler": "a" * 70_000}, body(), 431, "invalid_request_error", None, None),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "content", "status", "type_", "code", "param"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_hostile_input_is_refused_exactly(server, headers, content, status, type_, code, param):
    response = httpx.post(
        f"{server}{COMPLETIONS}",
        content=content,
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["type"] == type_
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert len(error["message"]) <= MAX_MESSAGE
    # The server is still there, and well.
    assert httpx.post(f"{server}{COMPLETIONS}", content=body(), headers={"content-type": "application/json", **VK})
