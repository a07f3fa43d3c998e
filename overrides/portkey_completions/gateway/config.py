"""Portkey configs (x-portkey-config): the gateway's schema, parsed into a tree of targets.

    {"strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
     "retry": {"attempts": 3, "on_status_codes": [429]},
     "request_timeout": 10000,
     "override_params": {"max_tokens": 64},
     "targets": [{"virtual_key": "vk-a"},
                 {"provider": "openai", "api_key": "sk-…", "weight": 0.5,
                  "strategy": {"mode": "loadbalance"}, "targets": [...]}]}

A node either has `targets` (and a `strategy`), or is a leaf naming where to go: `virtual_key`,
`provider` (+ `api_key`), or `custom_host` (+ `provider`). `retry`, `request_timeout` and
`override_params` pass from a node to its targets, which may override them.

A config is at most MAX_DEPTH levels of targets deep and MAX_NODES nodes in all: every node may
become an upstream call (times its retries), so an unbounded config is a request amplifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from portkey_completions.core import untrusted

MODES = ("single", "fallback", "loadbalance")
DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
MAX_DEPTH = 8
MAX_TIMEOUT_MS = 24 * 3600 * 1000
MAX_WEIGHT = 1_000_000
MAX_NODES = 100


class ConfigError(ValueError):
    """An invalid config, in words a Portkey user recognises."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_CODES


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
    request_timeout: float | None = None  # seconds
    override_params: Mapping[str, Any] = MappingProxyType({})


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


def parse(config: Mapping[str, Any]) -> Node:
    """The config as a tree of nodes.

    Raises:
        ConfigError: what is wrong, and where (`config.targets[1].retry`).
    """
    return _parse(config, "config", None, [MAX_NODES])


def _parse(config: Mapping[str, Any], path: str, parent: Node | None, budget: list[int]) -> Node:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(f"Invalid config passed: a config has at most {MAX_NODES} nodes (targets included)")
    if path.count(".targets[") > MAX_DEPTH:
        raise ConfigError(f"Invalid config passed: targets nest at most {MAX_DEPTH} levels deep")
    if not isinstance(config, Mapping):
        raise ConfigError(f"Invalid config passed: {path} must be an object")
    inherited = parent or Node(path)
    strategy = config.get("strategy")
    mode, codes = "single", None
    if strategy is not None:
        if not isinstance(strategy, Mapping):
            raise ConfigError(f"Invalid config passed: {path}.strategy must be an object")
        mode = str(strategy.get("mode"))
        if mode not in MODES:
            raise ConfigError(f"Invalid config passed: {path}.strategy.mode must be one of {', '.join(MODES)}")
        if "on_status_codes" in strategy:
            codes = _codes(strategy["on_status_codes"], f"{path}.strategy.on_status_codes")
    retry = inherited.retry
    if "retry" in config:
        retry = _retry(config["retry"], f"{path}.retry")
    timeout = inherited.request_timeout
    if "request_timeout" in config:
        value = config["request_timeout"]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_TIMEOUT_MS:
            raise ConfigError(
                f"Invalid config passed: {path}.request_timeout is a positive number of milliseconds, "
                f"at most {MAX_TIMEOUT_MS}"
            )
        timeout = value / 1000
    overrides = dict(inherited.override_params)
    if "override_params" in config:
        if not isinstance(config["override_params"], Mapping):
            raise ConfigError(f"Invalid config passed: {path}.override_params must be an object")
        overrides.update(config["override_params"])
    weight = config.get("weight", 1)
    # Compared, not converted first: float() of a 400-digit integer raises; NaN fails both sides.
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
        raise ConfigError(f"Invalid config passed: {path}.weight must be a number from 0 to {MAX_WEIGHT}")
    leaf = {k: config.get(k) for k in ("provider", "api_key", "virtual_key", "custom_host")}
    for key, value in leaf.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"Invalid config passed: {path}.{key} must be a string")
    node = Node(
        path,
        mode,
        codes,
        (),
        float(weight),
        retry=retry,
        request_timeout=timeout,
        override_params=overrides,
        **leaf,
    )
    targets = config.get("targets")
    if targets is None:
        if strategy is not None and mode != "single":
            raise ConfigError(f"Invalid config passed: {path}.strategy.mode {mode} needs targets")
        if not (node.virtual_key or node.provider or node.custom_host):
            raise ConfigError(f"Invalid config passed: {path} needs a provider, a virtual_key or targets")
        if node.custom_host and not node.provider:
            raise ConfigError(f"Invalid config passed: {path}.custom_host needs a provider")
        return node
    if not isinstance(targets, list) or not targets:
        raise ConfigError(f"Invalid config passed: {path}.targets must be a non-empty list")
    if strategy is None:
        raise ConfigError(f"Invalid config passed: {path} has targets but no strategy.mode")
    children = tuple(_parse(t, f"{path}.targets[{i}]", node, budget) for i, t in enumerate(targets))
    if mode == "loadbalance" and not sum(c.weight for c in children) > 0:
        raise ConfigError(f"Invalid config passed: {path}.targets weights must not all be 0")
    return Node(
        path, mode, codes, children, float(weight), retry=retry, request_timeout=timeout, override_params=overrides
    )


def _codes(value: Any, path: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(c, int) and 100 <= c <= 599 for c in value):
        raise ConfigError(f"Invalid config passed: {path} must be a list of HTTP status codes")
    return frozenset(value)


def _retry(value: Any, path: str) -> Retry:
    if not isinstance(value, Mapping):
        raise ConfigError(f"Invalid config passed: {path} must be an object")
    attempts = value.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= MAX_ATTEMPTS:
        raise ConfigError(f"Invalid config passed: {path}.attempts must be an integer from 0 to {MAX_ATTEMPTS}")
    codes = _codes(value["on_status_codes"], f"{path}.on_status_codes") if "on_status_codes" in value else None
    return Retry(attempts, codes or DEFAULT_RETRY_CODES)
