"""Portkey's config (x-portkey-config) as declared models: what each node may hold, and its bounds.

A node is one of two kinds, told apart by whether it has `targets`:
- `BranchFormat` has targets and a strategy;
- `LeafFormat` names where to go: a `virtual_key`, a `provider` (+ `api_key`), or a `custom_host` (+ `provider`).

These models say everything a single node can say. What spans nodes is `config`'s job: the
bounds on the whole tree, inheritance from parent to target, a conditional's names and a
loadbalance's weights.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

import pydantic

MODES = ("single", "fallback", "loadbalance", "conditional")
MAX_ATTEMPTS = 5
MAX_TIMEOUT_MS = 24 * 3600 * 1000
MAX_WEIGHT = 1_000_000
DEFAULT_CACHE_AGE = 7 * 24 * 3600.0  # seconds: Portkey's default max_age
MAX_CACHE_AGE = 90 * 24 * 3600
# Keys Portkey knows that this gateway does not apply: refused, never dropped.
_FOR_ANOTHER = "it is for {}; this gateway forwards to OpenAI-compatible upstreams"
_HOOKS = "hooks and guardrails are not run by this gateway"
REFUSED = {
    "before_request_hooks": _HOOKS,
    "after_request_hooks": _HOOKS,
    "input_guardrails": _HOOKS,
    "output_guardrails": _HOOKS,
    **dict.fromkeys(
        ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region"),
        _FOR_ANOTHER.format("AWS Bedrock"),
    ),
    **dict.fromkeys(
        ("vertex_project_id", "vertex_region", "vertex_service_account_json"), _FOR_ANOTHER.format("Google Vertex AI")
    ),
    "azure_model_name": _FOR_ANOTHER.format("Azure OpenAI"),
}

StatusCode = Annotated[int, pydantic.Field(ge=100, le=599, description="an HTTP status code")]
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110's token
HeaderName = Annotated[str, pydantic.Field(pattern=HEADER_NAME.pattern, description="a header name")]


class _Format(pydantic.BaseModel):
    # Built at the first config read: a server that is never sent one does not pay for it at start-up.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class RetryFormat(_Format):
    attempts: Annotated[int, pydantic.Field(ge=0, le=MAX_ATTEMPTS)] = 0
    on_status_codes: list[StatusCode] | None = None  # None or []: DEFAULT_RETRY_CODES


class CacheFormat(_Format):
    mode: Literal["simple", "semantic"]
    max_age: Annotated[float, pydantic.Field(gt=0, le=MAX_CACHE_AGE, description="seconds")] = DEFAULT_CACHE_AGE

    @pydantic.field_validator("mode")
    @classmethod
    def _simple(cls, mode: str) -> str:
        if mode == "semantic":
            raise ValueError(
                "mode semantic is not supported here: it matches requests by embedding similarity, and this "
                "gateway has no embedding model. Use mode simple (identical requests)."
            )
        return mode


class ConditionFormat(_Format):
    query: dict[str, Any]  # its operators are checked by gateway.conditions, which evaluates them
    then: str  # a target's name


class StrategyFormat(_Format):
    mode: Literal["single", "fallback", "loadbalance", "conditional"]
    on_status_codes: list[StatusCode] | None = None  # None: fall back on any failure
    conditions: Annotated[list[ConditionFormat], pydantic.Field(min_length=1)] | None = None
    default: str | None = None  # the target a conditional node takes when no condition holds

    @pydantic.model_validator(mode="after")
    def _conditional(self) -> StrategyFormat:
        if self.mode != "conditional" and (self.conditions is not None or self.default is not None):
            raise ValueError("conditions and default are for mode conditional")
        if self.mode == "conditional" and not self.conditions:
            raise ValueError("mode conditional needs conditions: a non-empty list of {query, then}")
        return self


class _NodeFormat(_Format):
    """What any node may hold; a target inherits retry, timeout, cache, headers and params from its parent."""

    name: str | None = None
    weight: Annotated[float, pydantic.Field(ge=0, le=MAX_WEIGHT)] = 1.0
    provider: str | None = None
    api_key: str | None = None
    virtual_key: str | None = None
    custom_host: str | None = None
    strategy: StrategyFormat | None = None
    retry: RetryFormat | None = None
    request_timeout: Annotated[int, pydantic.Field(gt=0, le=MAX_TIMEOUT_MS, description="milliseconds")] | None = None
    cache: CacheFormat | None = None
    forward_headers: list[HeaderName] | None = None
    override_params: dict[str, Any] | None = None
    strict_open_ai_compliance: bool | None = None
    openai_organization: str | None = None
    openai_project: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _applied(cls, data: Any) -> Any:
        """A key Portkey knows but this gateway does not apply is refused with why, not called unknown."""
        for key in data if isinstance(data, dict) else ():
            if key in REFUSED:
                raise ValueError(f"{key} is not supported here: {REFUSED[key]}")
        return data


class BranchFormat(_NodeFormat):
    targets: Annotated[list[NodeFormat], pydantic.Field(min_length=1)]
    strategy: StrategyFormat  # required here
    on_status_codes: list[StatusCode] | None = None  # Portkey's older place for the strategy's codes


class LeafFormat(_NodeFormat):
    # Declared so that the mistake gets its own words rather than "unknown key".
    on_status_codes: Any = None

    @pydantic.model_validator(mode="after")
    def _goes_somewhere(self) -> LeafFormat:
        if self.on_status_codes is not None:
            raise ValueError("on_status_codes belongs to a node with targets (or in its strategy)")
        if self.strategy is not None and self.strategy.mode != "single":
            raise ValueError(f"strategy.mode {self.strategy.mode} needs targets")
        if not (self.virtual_key or self.provider or self.custom_host):
            raise ValueError("needs a provider, a virtual_key or targets")
        if self.custom_host and not self.provider:
            raise ValueError("custom_host needs a provider")
        return self


def _kind(data: Any) -> str:
    return "branch" if isinstance(data, dict) and "targets" in data else "leaf"


# The tags name the kinds in pydantic's error locations; formats.problem leaves them out of the path it shows.
NodeFormat = Annotated[
    Annotated[BranchFormat, pydantic.Tag("branch")] | Annotated[LeafFormat, pydantic.Tag("leaf")],
    pydantic.Discriminator(_kind),
]

KEYS = frozenset({*BranchFormat.model_fields, *REFUSED})  # every key of Portkey's config schema


@functools.cache
def adapter() -> pydantic.TypeAdapter[BranchFormat | LeafFormat]:
    """The validator of a whole config, built on first use."""
    BranchFormat.model_rebuild()  # its targets name NodeFormat, declared after it
    return pydantic.TypeAdapter(NodeFormat)
