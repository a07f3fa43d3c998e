"""Portkey configs (x-portkey-config): Portkey's schema, parsed into a tree of targets.

    {"strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
     "retry": {"attempts": 3, "on_status_codes": [429]},
     "request_timeout": 10000,
     "cache": {"mode": "simple", "max_age": 600},
     "forward_headers": ["x-team"],
     "override_params": {"max_tokens": 64},
     "targets": [{"virtual_key": "vk-a", "request_timeout": 2000},
                 {"provider": "openai", "api_key": "sk-…", "weight": 0.5,
                  "strategy": {"mode": "loadbalance"}, "targets": [...]}]}

A node either has `targets` (and a `strategy`), or is a leaf naming where to go: `virtual_key`,
`provider` (+ `api_key`), or `custom_host` (+ `provider`). `retry`, `request_timeout`, `cache`,
`forward_headers`, `override_params` and the OpenAI organization and project pass from a node to
its targets, which may override them. `request_timeout` bounds each attempt at a leaf: a timed-out
attempt is a 408 that a retry or a fallback acts on.

Every key of Portkey's config schema is known here (`KEYS`): each is honoured, or refused with a
400 that says this gateway does not apply it (`REFUSED`), or accepted and named in the answer's
`x-portkey-not-applied` header (`strict_open_ai_compliance: false`). A key Portkey does not know
is a 400 naming the closest known one; Portkey itself drops it silently.

A config is at most MAX_DEPTH levels of targets deep and MAX_NODES nodes in all: every node may
become an upstream call (times its retries), so an unbounded config is a request amplifier.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from portkey_completions.core import names, untrusted

from . import conditions as queries

MODES = ("single", "fallback", "loadbalance", "conditional")
DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
MAX_DEPTH = 8
MAX_TIMEOUT_MS = 24 * 3600 * 1000
MAX_WEIGHT = 1_000_000
MAX_NODES = 100
PARSED = 256  # distinct config headers whose trees are kept (`parsed`): a tree is a few KB at most
CACHE_MODES = ("simple", "semantic")
DEFAULT_CACHE_AGE = 7 * 24 * 3600.0  # seconds: Portkey's default max_age
MAX_CACHE_AGE = 90 * 24 * 3600
# The OpenAI-specific keys, and the upstream headers they become.
OPENAI_HEADERS = {"openai_organization": "openai-organization", "openai_project": "openai-project"}
# Keys Portkey knows that this gateway does not apply: refused, never dropped.
REFUSED = {
    "before_request_hooks": "hooks and guardrails are not run by this gateway",
    "after_request_hooks": "hooks and guardrails are not run by this gateway",
    "input_guardrails": "hooks and guardrails are not run by this gateway",
    "output_guardrails": "hooks and guardrails are not run by this gateway",
    "aws_access_key_id": "it is for AWS Bedrock; this gateway forwards to OpenAI-compatible upstreams",
    "aws_secret_access_key": "it is for AWS Bedrock; this gateway forwards to OpenAI-compatible upstreams",
    "aws_session_token": "it is for AWS Bedrock; this gateway forwards to OpenAI-compatible upstreams",
    "aws_region": "it is for AWS Bedrock; this gateway forwards to OpenAI-compatible upstreams",
    "vertex_project_id": "it is for Google Vertex AI; this gateway forwards to OpenAI-compatible upstreams",
    "vertex_region": "it is for Google Vertex AI; this gateway forwards to OpenAI-compatible upstreams",
    "vertex_service_account_json": "it is for Google Vertex AI; this gateway forwards to OpenAI-compatible upstreams",
    "azure_model_name": "it is for Azure OpenAI; this gateway forwards to OpenAI-compatible upstreams",
}
KEYS = frozenset(
    {
        "strategy", "targets", "name", "provider", "api_key", "virtual_key", "custom_host", "weight",
        "retry", "request_timeout", "cache", "forward_headers", "override_params", "on_status_codes",
        "strict_open_ai_compliance", *OPENAI_HEADERS, *REFUSED,
    }
)  # fmt: skip
STRATEGY_KEYS = frozenset({"mode", "on_status_codes", "conditions", "default"})
RETRY_KEYS = frozenset({"attempts", "on_status_codes"})
CACHE_KEYS = frozenset({"mode", "max_age"})
CONDITION_KEYS = frozenset({"query", "then"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ConfigError(ValueError):
    """An invalid config, in words a Portkey user recognises."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_CODES


class Cache(NamedTuple):
    """`cache: {mode: simple, max_age}`: identical requests to a target answered from the state."""

    max_age: float = DEFAULT_CACHE_AGE  # seconds


class Condition(NamedTuple):
    query: Mapping[str, Any]
    then: str  # a target's name


class Node(NamedTuple):
    """One node of a config tree."""

    path: str  # where it sits, as the gateway names it: "config", "config.targets[1]"
    mode: str = "single"
    on_status_codes: frozenset[int] | None = None  # None: fall back on any failure
    targets: tuple[Node, ...] = ()
    weight: float = 1.0
    provider: str | None = None
    api_key: str | None = None
    virtual_key: str | None = None
    custom_host: str | None = None
    retry: Retry = Retry()
    request_timeout: float | None = None  # seconds, for each attempt at a leaf
    override_params: Mapping[str, Any] = MappingProxyType({})
    name: str | None = None
    conditions: tuple[Condition, ...] = ()
    default: str | None = None  # the target a conditional node takes when no condition holds
    forward_headers: tuple[str, ...] = ()  # the caller's headers sent on to the upstream (lower case)
    upstream_headers: Mapping[str, str] = MappingProxyType({})  # OpenAI-Organization, OpenAI-Project
    cache: Cache | None = None
    not_applied: tuple[str, ...] = ()  # keys accepted without effect, named in the answer

    def named(self, name: str) -> Node:
        """The target called `name` (checked when the config was read)."""
        return next(t for t in self.targets if t.name == name)


@functools.lru_cache(maxsize=PARSED)
def parsed(header: str) -> Node:
    """The tree of a JSON config header, parsed once per distinct value (a client sends the same few again and again).

    Raises:
        ConfigError: as `decode` and `parse` (not cached: a config that fails is read again).
    """
    decoded = decode(header)
    if isinstance(decoded, str):
        raise ConfigError("Invalid config passed: x-portkey-config is not a JSON object.")
    return parse(decoded)


def decode(header: str) -> Mapping[str, Any] | str:
    """The header's config: a JSON object, or (anything not starting with `{`) a saved config's id."""
    text = header.strip()
    if not text.startswith("{"):
        return text
    try:
        value = untrusted.loads(text)
    except ValueError as exc:
        raise ConfigError(f"Invalid config passed: x-portkey-config is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError("Invalid config passed: a config is a JSON object")
    return value


def is_config_id(value: str) -> bool:
    """Whether a bare x-portkey-config value has the form of Portkey's saved config ids (`pc-…`)."""
    return value.startswith("pc-") and len(value) > 3


def parse(config: Mapping[str, Any]) -> Node:
    """The config as a tree of nodes.

    Raises:
        ConfigError: what is wrong, and where (`config.targets[1].retry`).
    """
    return _parse(config, "config", None, [MAX_NODES])


def _invalid(message: str) -> ConfigError:
    return ConfigError(f"Invalid config passed: {message}")


def _known(value: Mapping[str, Any], known: frozenset[str], path: str) -> None:
    for key in value:
        if key not in known:
            raise _invalid(f"{path}: " + names.unknown("key", str(key), known))


def _parse(config: Mapping[str, Any], path: str, parent: Node | None, budget: list[int]) -> Node:
    _admitted(config, path, budget)
    node = _node(config, path, parent or Node(path))
    targets = config.get("targets")
    if targets is None:
        return _leaf(config, node, path)
    if not isinstance(targets, list) or not targets:
        raise _invalid(f"{path}.targets must be a non-empty list")
    if "strategy" not in config:
        raise _invalid(f"{path} has targets but no strategy.mode")
    codes = node.on_status_codes
    if codes is None and "on_status_codes" in config:  # Portkey's older place for the strategy's codes
        codes = _codes(config["on_status_codes"], f"{path}.on_status_codes")
    children = tuple(_parse(t, f"{path}.targets[{i}]", node, budget) for i, t in enumerate(targets))
    if node.mode == "loadbalance" and not sum(c.weight for c in children) > 0:
        raise _invalid(f"{path}.targets weights must not all be 0")
    if node.mode == "conditional":
        _named(node, children, path)
    return node._replace(on_status_codes=codes, targets=children)


def _admitted(config: Mapping[str, Any], path: str, budget: list[int]) -> None:
    """Within the bounds (MAX_NODES, MAX_DEPTH), an object, and every key known and applied here."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _invalid(f"a config has at most {MAX_NODES} nodes (targets included)")
    if path.count(".targets[") > MAX_DEPTH:
        raise _invalid(f"targets nest at most {MAX_DEPTH} levels deep")
    if not isinstance(config, Mapping):
        raise _invalid(f"{path} must be an object")
    _known(config, KEYS, path)
    for key in config:
        if key in REFUSED:
            raise _invalid(f"{path}.{key} is not supported here: {REFUSED[key]}")


def _node(config: Mapping[str, Any], path: str, inherited: Node) -> Node:
    """The node's own settings, over what it inherits from its parent (targets not yet read); checked in key order."""
    mode, codes, conds, default = _strategy(config, path)
    retry = _retry(config["retry"], f"{path}.retry") if "retry" in config else inherited.retry
    timeout = _timeout(config, path, inherited.request_timeout)
    overrides = _overrides(config, path, inherited.override_params)
    weight = _weight(config, path)
    strings = {k: config.get(k) for k in ("provider", "api_key", "virtual_key", "custom_host", "name")}
    for key, value in {**strings, **{k: config.get(k) for k in OPENAI_HEADERS}}.items():
        if value is not None and not isinstance(value, str):
            raise _invalid(f"{path}.{key} must be a string")
    forward = _forward_headers(config["forward_headers"], path) if "forward_headers" in config else None
    upstream = {**inherited.upstream_headers, **{h: config[k] for k, h in OPENAI_HEADERS.items() if k in config}}
    cache = _cache(config["cache"], f"{path}.cache") if "cache" in config else inherited.cache
    return Node(
        path,
        mode,
        codes,
        (),
        weight,
        retry=retry,
        request_timeout=timeout,
        override_params=overrides,
        conditions=conds,
        default=default,
        forward_headers=inherited.forward_headers if forward is None else forward,
        upstream_headers=upstream,
        cache=cache,
        not_applied=_not_applied(config, path, inherited.not_applied),
        **strings,
    )


def _leaf(config: Mapping[str, Any], node: Node, path: str) -> Node:
    """A node without targets: it must name where to go."""
    if "strategy" in config and node.mode != "single":
        raise _invalid(f"{path}.strategy.mode {node.mode} needs targets")
    if "on_status_codes" in config:
        raise _invalid(f"{path}.on_status_codes belongs to a node with targets (or in its strategy)")
    if not (node.virtual_key or node.provider or node.custom_host):
        raise _invalid(f"{path} needs a provider, a virtual_key or targets")
    if node.custom_host and not node.provider:
        raise _invalid(f"{path}.custom_host needs a provider")
    return node


def _named(node: Node, children: tuple[Node, ...], path: str) -> None:
    """A conditional node's conditions and default each name one of its targets."""
    named = {c.name for c in children if c.name}
    for i, wanted in [
        *((f"conditions[{i}].then", c.then) for i, c in enumerate(node.conditions)),
        ("default", node.default),
    ]:
        if wanted is not None and wanted not in named:
            known = ", ".join(sorted(named)) or "none: give targets a name"
            raise _invalid(f"{path}.strategy.{i} names no target: {wanted!r} (the targets' names: {known})")


def _timeout(config: Mapping[str, Any], path: str, inherited: float | None) -> float | None:
    if "request_timeout" not in config:
        return inherited
    value = config["request_timeout"]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_TIMEOUT_MS:
        raise _invalid(f"{path}.request_timeout is a positive number of milliseconds, at most {MAX_TIMEOUT_MS}")
    return value / 1000


def _overrides(config: Mapping[str, Any], path: str, inherited: Mapping[str, Any]) -> dict[str, Any]:
    overrides = dict(inherited)
    if "override_params" in config:
        if not isinstance(config["override_params"], Mapping):
            raise _invalid(f"{path}.override_params must be an object")
        overrides.update(config["override_params"])
    return overrides


def _weight(config: Mapping[str, Any], path: str) -> float:
    weight = config.get("weight", 1)
    # Compared, not converted first: float() of a 400-digit integer raises; NaN fails both sides.
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
        raise _invalid(f"{path}.weight must be a number from 0 to {MAX_WEIGHT}")
    return float(weight)


def _not_applied(config: Mapping[str, Any], path: str, inherited: tuple[str, ...]) -> tuple[str, ...]:
    strict = config.get("strict_open_ai_compliance")
    if strict is not None and not isinstance(strict, bool):
        raise _invalid(f"{path}.strict_open_ai_compliance must be true or false")
    if strict is False:  # answers are always in OpenAI's shape here: there is nothing to relax
        return (*inherited, f"{path}.strict_open_ai_compliance")
    return inherited


def _strategy(
    config: Mapping[str, Any], path: str
) -> tuple[str, frozenset[int] | None, tuple[Condition, ...], str | None]:
    strategy = config.get("strategy")
    if strategy is None:
        return "single", None, (), None
    if not isinstance(strategy, Mapping):
        raise _invalid(f"{path}.strategy must be an object")
    _known(strategy, STRATEGY_KEYS, f"{path}.strategy")
    mode = str(strategy.get("mode"))
    if mode not in MODES:
        near = names.closest(mode, MODES)
        hint = f" (did you mean {near!r}?)" if near else ""
        raise _invalid(f"{path}.strategy.mode {mode!r} is not one of {', '.join(MODES)}{hint}")
    codes = (
        _codes(strategy["on_status_codes"], f"{path}.strategy.on_status_codes")
        if "on_status_codes" in strategy
        else None
    )
    raw, default = strategy.get("conditions"), strategy.get("default")
    if mode != "conditional":
        if raw is not None or default is not None:
            raise _invalid(f"{path}.strategy.conditions and default are for mode conditional")
        return mode, codes, (), None
    if not isinstance(raw, list) or not raw:
        raise _invalid(f"{path}.strategy.conditions must be a non-empty list of {{query, then}}")
    if default is not None and not isinstance(default, str):
        raise _invalid(f"{path}.strategy.default must be a target's name")
    conds = []
    for i, item in enumerate(raw):
        where = f"{path}.strategy.conditions[{i}]"
        if not isinstance(item, Mapping):
            raise _invalid(f"{where} must be an object")
        _known(item, CONDITION_KEYS, where)
        if not isinstance(item.get("then"), str):
            raise _invalid(f"{where}.then must be a target's name")
        try:
            queries.check(item.get("query"), f"{where}.query")
        except queries.QueryError as exc:
            raise _invalid(str(exc)) from None
        conds.append(Condition(item["query"], item["then"]))
    return mode, codes, tuple(conds), default


def _codes(value: Any, path: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(c, int) and 100 <= c <= 599 for c in value):
        raise _invalid(f"{path} must be a list of HTTP status codes")
    return frozenset(value)


def _retry(value: Any, path: str) -> Retry:
    if not isinstance(value, Mapping):
        raise _invalid(f"{path} must be an object")
    _known(value, RETRY_KEYS, path)
    attempts = value.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= MAX_ATTEMPTS:
        raise _invalid(f"{path}.attempts must be an integer from 0 to {MAX_ATTEMPTS}")
    codes = _codes(value["on_status_codes"], f"{path}.on_status_codes") if "on_status_codes" in value else None
    return Retry(attempts, codes or DEFAULT_RETRY_CODES)


def _cache(value: Any, path: str) -> Cache:
    if not isinstance(value, Mapping):
        raise _invalid(f"{path} must be an object")
    _known(value, CACHE_KEYS, path)
    mode = value.get("mode")
    if mode not in CACHE_MODES:
        raise _invalid(f"{path}.mode must be one of {', '.join(CACHE_MODES)}")
    if mode == "semantic":
        raise _invalid(
            f"{path}.mode semantic is not supported here: it matches requests by embedding similarity, and this "
            "gateway has no embedding model. Use mode simple (identical requests)."
        )
    age = value.get("max_age", DEFAULT_CACHE_AGE)
    if not isinstance(age, int | float) or isinstance(age, bool) or not 0 < age <= MAX_CACHE_AGE:
        raise _invalid(f"{path}.max_age is a positive number of seconds, at most {MAX_CACHE_AGE}")
    return Cache(float(age))


def _forward_headers(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(h, str) and _HEADER_NAME.fullmatch(h) for h in value):
        raise _invalid(f"{path}.forward_headers must be a list of header names")
    return tuple(h.lower() for h in value)


def header_names(value: str) -> tuple[str, ...] | None:
    """The `x-portkey-forward-headers` request header's names (comma-separated); None if one is not a name."""
    found = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    return found if all(_HEADER_NAME.fullmatch(h) for h in found) else None
