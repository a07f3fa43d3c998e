"""A scenario rule: what it matches and how it answers, checked against admin.yaml's RuleSpec.

One contract for every rule, from a file, the admin API or a `Prefer` header alike; where rules
come from and which one a request meets is `scenarios`.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import jsonschema_rs
import yaml

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core import names


@functools.cache
def _rule_schema() -> dict[str, Any]:
    """admin.yaml's RuleSpec: the one statement of what a rule may say, for file, admin and Prefer rules alike."""
    admin = yaml.safe_load(importlib.resources.files(__package__).joinpath("admin.yaml").read_text(encoding="utf-8"))
    schema: dict[str, Any] = admin["components"]["schemas"]["RuleSpec"]
    return schema


# `format: regex` names ECMA-262's dialect, which schemathesis and other JSON Schema tools check;
# the rules run on Python's `re`. A pattern must be valid in both (`{` alone is a literal to
# Python and an error to ECMA-262; `(?P<n>…)` the other way round), so that a rule the contract
# accepts is one this server can run, and the other way round.
_ECMA_REGEX = jsonschema_rs.Draft4Validator({"format": "regex"}, validate_formats=True)
_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("regex", raises=re.error)
def _regex_in_both_dialects(value: object) -> bool:
    if not isinstance(value, str):
        return True  # `type` judges the rest
    re.compile(value)
    return bool(_ECMA_REGEX.is_valid(value))


@functools.cache
def _rule_spec() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_rule_schema(), format_checker=_FORMATS)


RESPOND_KEYS = frozenset(_rule_schema()["properties"]["respond"]["properties"])
_FAILING = frozenset({"status", "error", "fail_first"})  # what a rule applies only on a hit that fails


class RuleError(ValueError):
    """A rule that cannot be used, said plainly."""


@dataclass(kw_only=True)
class Rule:
    id: str
    source: str  # "file", "admin", "prefer"
    model: str | None = None
    prompt: re.Pattern[str] | None = None
    headers: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    alternative: str | None = None
    text: str | None = None
    status: int | None = None
    error: Mapping[str, Any] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    fail_first: int | None = None
    latency: float = 0.0
    ttft: float | None = None
    tokens_per_second: float | None = None
    jitter: float = 0.0
    disconnect_after: int | None = None
    error_after: int | None = None
    malformed_after: int | None = None
    times: int | None = None
    hits: int = 0  # as last counted (the state counts: in memory, or in Redis for a fleet)
    spec: Mapping[str, Any] = field(default_factory=dict)  # as given, for listing
    namespace: str | None = None  # a run-time rule matches only its namespace's requests
    counter: str = ""  # the shared state's name for this rule's counter

    def matches(
        self, body: Mapping[str, Any], headers: Mapping[str, str], alternative: str | None, prompts: list[str]
    ) -> bool:
        """What the request says matches (`times` is the state's to count)."""
        if self.model is not None and body.get("model") != self.model:
            return False
        if self.alternative is not None and alternative != self.alternative:
            return False
        if self.prompt is not None and not any(self.prompt.search(p) for p in prompts):
            return False
        return all(p.search(headers.get(name, "")) is not None for name, p in self.headers.items())

    def fails(self, hit: int) -> bool:
        """Whether the hit numbered `hit` (from 1) answers with the error status."""
        return self.status is not None and (self.fail_first is None or hit <= self.fail_first)

    def applied(self, hit: int) -> tuple[str, ...]:
        """The keys of `respond` the hit numbered `hit` applied (contract coverage's faults).

        A status (with its error and `fail_first`) only on a hit that fails; a Retry-After sent as a
        header counts as `retry_after`. `times` bounds the rule: it is applied to no answer.
        """
        said = self.spec.get("respond") or {}
        failing = self.fails(hit)
        keys = [k for k in said if k != "times" and (failing or k not in _FAILING)]
        if "retry_after" not in keys and any(h.lower() == "retry-after" for h in self.response_headers):
            keys.append("retry_after")
        return tuple(keys)

    def error_answer(self, status: int, default_message: str) -> ServerAPIError:
        """The error this rule answers with: its `error` fields over the OpenAI shape's defaults."""
        fields = self.error
        return ServerAPIError(
            status,
            str(fields.get("message") or default_message),
            type=str(fields["type"]) if fields.get("type") else None,
            param=fields.get("param"),
            code=fields.get("code"),
        )

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "hits": self.hits, **self.spec}


def rule(spec: Mapping[str, Any], source: str, rule_id: str | None = None) -> Rule:
    """Build a rule from `{match, respond}`: admin.yaml's RuleSpec first, then what a schema cannot say."""
    problem = jsonschema.exceptions.best_match(_rule_spec().iter_errors(spec))
    if problem is not None:
        where = ".".join(str(p) for p in problem.absolute_path) or "the rule"
        raise RuleError(f"{where}: {_said(problem)}")
    match, respond = spec.get("match") or {}, spec["respond"]
    alternative = match.get("alternative")
    headers = match.get("headers") or {}
    response_headers = dict(respond.get("headers") or {})
    if respond.get("retry_after") is not None:
        response_headers["Retry-After"] = f"{_float(respond, 'retry_after'):g}"
    status = _int(respond, "status")
    if respond.get("fail_first") is not None and status is None:
        status = 500  # failing without saying how: the most common transient failure
    error = respond.get("error") or {}
    text = respond.get("text")
    return Rule(
        id=str(spec.get("id") or rule_id or ""),  # "": the state gives a run-time rule a fleet-unique one
        source=source,
        model=match.get("model"),
        prompt=_regex(match.get("prompt"), "match.prompt"),
        headers={str(k).lower(): _compiled(v, f"match.headers.{k}") for k, v in headers.items()},
        alternative=alternative,
        text=text,
        status=status,
        error=error,
        response_headers=response_headers,
        fail_first=_int(respond, "fail_first"),
        latency=_float(respond, "latency") or 0.0,
        ttft=_float(respond, "ttft"),
        tokens_per_second=_float(respond, "tokens_per_second"),
        jitter=_float(respond, "jitter") or 0.0,
        disconnect_after=_int(respond, "disconnect_after"),
        error_after=_int(respond, "error_after"),
        malformed_after=_int(respond, "malformed_after"),
        times=_int(respond, "times"),
        spec={"match": dict(match), "respond": dict(respond)},
    )


def _said(problem: jsonschema.ValidationError) -> str:
    """The schema's complaint, except that an unknown key is named beside the closest known one."""
    known = problem.schema.get("properties") if isinstance(problem.schema, dict) else None
    if problem.validator == "additionalProperties" and isinstance(problem.instance, dict) and known:
        extra = sorted(set(problem.instance) - set(known))
        if extra:
            return names.unknown("key", str(extra[0]), known)
    return problem.message


# The schema has checked types and bounds; these only read what it let through.


def _regex(value: str | None, where: str) -> re.Pattern[str] | None:
    return None if value is None else _compiled(value, where)


def _compiled(value: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:  # `format: regex` is checked by the schema too; this is the engine that runs it
        raise RuleError(f"{where}: {exc}") from None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return None if value is None else int(value)


def _float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return None if value is None else float(value)
