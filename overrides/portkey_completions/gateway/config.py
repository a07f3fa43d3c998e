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

What a node may hold is declared in `config_format` (pydantic models, one per node kind). Every
key of Portkey's config schema is known there: each is honoured, or refused with a 400 that says
this gateway does not apply it (`REFUSED`), or accepted and named in the answer's
`x-portkey-not-applied` header (`strict_open_ai_compliance: false`). A key Portkey does not know
is a 400 naming the closest known one; Portkey itself drops it silently. This module builds the
tree: the bounds on the whole, what a target inherits, and the checks that span nodes.

A config is at most MAX_DEPTH levels of targets deep and MAX_NODES nodes in all: every node may
become an upstream call (times its retries), so an unbounded config is a request amplifier.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import pydantic

from portkey_completions.core import formats, untrusted

from . import conditions as queries
from .config_format import (
    DEFAULT_CACHE_AGE,
    HEADER_NAME,
    MAX_TIMEOUT_MS,
    MAX_WEIGHT,
    MODES,
    REFUSED,
    BranchFormat,
    LeafFormat,
    NodeFormat,
    StrategyFormat,
    adapter,
)

__all__ = ["MAX_TIMEOUT_MS", "MAX_WEIGHT", "MODES", "REFUSED", "ConfigError", "Node", "parse", "parsed"]

DEFAULT_RETRY_CODES = frozenset({429, 500, 502, 503, 504})
MAX_DEPTH = 8
MAX_NODES = 100
PARSED = 256  # distinct config headers whose trees are kept (`parsed`): a tree is a few KB at most
# The OpenAI-specific keys, and the upstream headers they become.
OPENAI_HEADERS = {"openai_organization": "openai-organization", "openai_project": "openai-project"}


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
    strategies: tuple[str, ...] = ()  # the modes of the nodes above it, the root's first

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
    _bounded(config, 0, [MAX_NODES])  # before the models: every node may become an upstream call
    try:
        declared = adapter().validate_python(config)
    except pydantic.ValidationError as exc:
        raise _invalid(formats.problem(exc, NodeFormat, whole="config", prefix="config")) from None
    return _tree(declared, "config", Node("config"))


def _invalid(message: str) -> ConfigError:
    return ConfigError(f"Invalid config passed: {message}")


def _bounded(config: Any, depth: int, budget: list[int]) -> None:
    """At most MAX_NODES nodes, MAX_DEPTH levels of targets deep (an unbounded config is a request amplifier)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _invalid(f"a config has at most {MAX_NODES} nodes (targets included)")
    if depth > MAX_DEPTH:
        raise _invalid(f"targets nest at most {MAX_DEPTH} levels deep")
    targets = config.get("targets") if isinstance(config, Mapping) else None
    for target in targets if isinstance(targets, list) else ():
        _bounded(target, depth + 1, budget)


def _tree(declared: BranchFormat | LeafFormat, path: str, parent: Node) -> Node:
    """The node at `path`, over what it inherits from its parent, with its targets built below it."""
    node = _node(declared, path, parent)
    if isinstance(declared, LeafFormat):
        return node
    codes = node.on_status_codes
    if codes is None and declared.on_status_codes is not None:  # Portkey's older place for the strategy's codes
        codes = frozenset(declared.on_status_codes)
    above = node._replace(strategies=(*parent.strategies, node.mode))
    children = tuple(_tree(t, f"{path}.targets[{i}]", above) for i, t in enumerate(declared.targets))
    if node.mode == "loadbalance" and not sum(c.weight for c in children) > 0:
        raise _invalid(f"{path}.targets weights must not all be 0")
    if node.mode == "conditional":
        _named(node, children, path)
    return node._replace(on_status_codes=codes, targets=children)


def _node(declared: BranchFormat | LeafFormat, path: str, inherited: Node) -> Node:
    """The node's own settings, over what it inherits from its parent (targets not yet read)."""
    strategy = declared.strategy or StrategyFormat(mode="single")
    retry = declared.retry
    cache = declared.cache
    headers = declared.forward_headers
    upstream = {key: getattr(declared, key) for key in OPENAI_HEADERS if getattr(declared, key) is not None}
    return Node(
        path,
        strategy.mode,
        None if strategy.on_status_codes is None else frozenset(strategy.on_status_codes),
        weight=declared.weight,
        provider=declared.provider,
        api_key=declared.api_key,
        virtual_key=declared.virtual_key,
        custom_host=declared.custom_host,
        name=declared.name,
        retry=inherited.retry
        if retry is None
        else Retry(retry.attempts, frozenset(retry.on_status_codes or DEFAULT_RETRY_CODES)),
        request_timeout=inherited.request_timeout
        if declared.request_timeout is None
        else declared.request_timeout / 1000,
        override_params={**inherited.override_params, **(declared.override_params or {})},
        conditions=_conditions(strategy, path),
        default=strategy.default,
        forward_headers=inherited.forward_headers if headers is None else tuple(h.lower() for h in headers),
        upstream_headers={**inherited.upstream_headers, **{OPENAI_HEADERS[k]: v for k, v in upstream.items()}},
        cache=inherited.cache if cache is None else Cache(cache.max_age),
        strategies=inherited.strategies,
        # Answers are always in OpenAI's shape here: `false` has nothing to relax, so it is named as not applied.
        not_applied=(
            (*inherited.not_applied, f"{path}.strict_open_ai_compliance")
            if declared.strict_open_ai_compliance is False
            else inherited.not_applied
        ),
    )


def _conditions(strategy: StrategyFormat, path: str) -> tuple[Condition, ...]:
    """A conditional strategy's conditions, each query checked by the module that evaluates it."""
    found = []
    for i, condition in enumerate(strategy.conditions or ()):
        try:
            queries.check(condition.query, f"{path}.strategy.conditions[{i}].query")
        except queries.QueryError as exc:
            raise _invalid(str(exc)) from None
        found.append(Condition(condition.query, condition.then))
    return tuple(found)


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


def header_names(value: str) -> tuple[str, ...] | None:
    """The `x-portkey-forward-headers` request header's names (comma-separated); None if one is not a name."""
    found = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    return found if all(HEADER_NAME.fullmatch(h) for h in found) else None
