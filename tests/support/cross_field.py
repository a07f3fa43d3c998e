"""The documented 400s a schema cannot state, predicted from a request body, as a schemathesis check.

A schema-valid body can still break a rule between fields (best_of below n, stream with best_of,
the context window, suffix, logit_bias keys, token ids). schemathesis' positive_data_acceptance
would call that 400 a failure. `positive_data_acceptance_or_documented_400` keeps that check for
every case but those the rules below predict, and for those asserts the 400 and its `param`.
Used by tests/contract/test_schemathesis.py and, as a hooks module, by `make fuzz`.

Random model names are all 404s, so `map_body` gives three bodies in four a model from the
table: the rest of the body is then exercised too (any string is a schema-valid model).
"""

from __future__ import annotations

import json
import re
import zlib

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portkey_completions.call.security import Alternatives
from portkey_completions.engine.catalog import DEFAULT_MODELS
from portkey_completions.engine.tokenizer import cl100k
from portkey_completions.gateway import config as configs
from portkey_completions.gateway import hosts

ALTERNATIVES = Alternatives.from_spec("/completions", "post")

MODELS = sorted(DEFAULT_MODELS)


@schemathesis.hook
def map_body(context, body):
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        key = zlib.crc32(repr(body).encode())
        if key % 4:
            body["model"] = MODELS[key % len(MODELS)]
    return body


def _prompts(prompt) -> list[list[int]]:
    tokenizer = cl100k()
    if prompt is None:
        return [[tokenizer.eot]]
    if isinstance(prompt, str):
        return [tokenizer.encode(prompt)]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [prompt]
    return [tokenizer.encode(p) if isinstance(p, str) else p for p in prompt]


def broken_rules(body) -> set[str]:
    """The `param`s of the documented cross-field 400s this schema-valid body should get."""
    card = DEFAULT_MODELS.get(body.get("model")) if isinstance(body, dict) else None
    if card is None:
        return set()  # an unknown model is a 404, which positive_data_acceptance allows
    tokenizer = cl100k()
    broken = set()
    n, best_of = body.get("n") or 1, body.get("best_of")
    if best_of is not None and (best_of < n or (body.get("stream") and best_of > 1)):
        broken.add("best_of")
    suffix = body.get("suffix")
    if suffix is not None and (not card.suffix or body.get("echo")):
        broken.add("suffix")
    if len(body.get("logit_bias") or {}) > 300:
        broken.add("logit_bias")
    for key, value in (body.get("logit_bias") or {}).items():
        if not re.fullmatch(r"[0-9]{1,7}", key) or int(key) not in tokenizer.valid or not -100 <= value <= 100:
            broken.add("logit_bias")
    prompts = _prompts(body.get("prompt"))
    if any(tokenizer.invalid(p) is not None for p in prompts):
        return broken | {"prompt"}
    extra = len(tokenizer.encode(suffix)) if isinstance(suffix, str) else 0
    if body.get("max_tokens") is not None and len(prompts) * (best_of or n) * body["max_tokens"] > 131_072:
        broken.add("max_tokens")  # the per-request cap on generated tokens
    for p in prompts:
        used = len(p) + extra
        if used > card.context_window:
            broken.add("prompt")
        elif body.get("max_tokens") is not None and used + body["max_tokens"] > card.context_window:
            broken.add("max_tokens")
    return broken


def broken_headers(headers) -> set[str]:
    """The gateway's 400s from headers: a config it cannot read, a custom host it will not call."""
    headers = {k.lower(): v for k, v in headers.items()}
    alternative = ALTERNATIVES.match(headers)
    names = {s.header for s in alternative.schemes} if alternative else set()
    if "x-portkey-custom-host" in names:
        try:
            hosts.check_url(headers["x-portkey-custom-host"].strip())
        except hosts.HostRefused:
            return {"x-portkey-custom-host"}
    elif "x-portkey-config" in names:
        try:
            decoded = configs.decode(headers["x-portkey-config"])
            if not isinstance(decoded, str):
                configs.parse(decoded)
            elif not configs.is_config_id(decoded):  # neither JSON nor an id in Portkey's form
                return {"x-portkey-config"}
        except configs.ConfigError:
            return {"x-portkey-config"}
    return set()


@schemathesis.check
def positive_data_acceptance_or_documented_400(ctx, response, case):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    # The rules are createCompletion's, which the gateway routes; another operation (one the spec
    # gained, answered from the spec) judges only what its schema states.
    routed = case.operation.path == "/completions" and case.operation.method.lower() == "post"
    broken = broken_rules(case.body) | broken_headers(response.request.headers) if positive and routed else set()
    if not broken:
        return positive_data_acceptance(ctx, response, case)
    if response.status_code == 401:  # auth is checked first
        return None
    assert response.status_code == 400, f"expected a 400 for {sorted(broken)}, got {response.status_code}"
    param = json.loads(response.content)["error"]["param"]
    assert param in broken, f"expected a 400 naming one of {sorted(broken)}, got param {param!r}"
    return None
