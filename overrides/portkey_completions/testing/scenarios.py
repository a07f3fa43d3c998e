"""Scenarios: rules that match requests and shape the answer, for testing code against the API's faults.

A rule is `{match: {...}, respond: {...}}`:

    match:    model, prompt (a regex searched in each prompt), headers ({name: regex}),
              alternative (virtual_key | provider | config | custom_host)
    respond:  text               fixed completion text (tokenized: usage, logprobs, chunks agree)
              status, error      an error status with an OpenAI error body (error: message/type/code)
              headers            response headers, e.g. {Retry-After: "2"}; retry_after is a shorthand
              fail_first         fail the first K matching requests (with status, 500 by default), then answer normally
              latency            seconds before answering
              ttft, tokens_per_second, jitter   stream pacing (jitter: a fraction of each gap between tokens)
              disconnect_after   drop the connection after N stream events
              error_after        send an error event after N stream events, then end
              malformed_after    send a malformed event after N stream events
              times              how many matches the rule answers before it retires

Rules come from a YAML file (`serve --scenarios FILE`, reloaded when it changes), from the admin
API at run time, and per request from a `Prefer` header (`Prefer: code=429, retry_after=1`). A
request gets the first match of: its Prefer header, run-time rules (oldest first), file rules.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import yaml

from portkey_completions.server import namespaces
from portkey_completions.server.errors import ServerAPIError

from .state import Memory, State


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


class RuleError(ValueError):
    """A rule that cannot be used, said plainly."""


@dataclass
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
        raise RuleError(f"{where}: {problem.message}")
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


def from_prefer(value: str) -> Rule | None:
    """A one-request rule from `Prefer: code=429, retry_after=1, text="hi"` (Prism's header, widened)."""
    respond: dict[str, Any] = {}
    for part in re.split(r"[;,]\s*(?=[a-z_]+=)", value.strip()):
        name, _, raw = part.partition("=")
        name, raw = name.strip().lower(), raw.strip().strip('"')
        if not name or not raw:
            continue
        key = "status" if name == "code" else name
        if key not in RESPOND_KEYS:
            raise RuleError(
                f"Prefer: unknown preference {name!r}; known: code, {', '.join(sorted(RESPOND_KEYS - {'status'}))}"
            )
        respond[key] = raw if key in ("text",) else _number(raw, name)
    return rule({"respond": respond}, "prefer", "prefer") if respond else None


def _number(raw: str, name: str) -> int | float:
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            raise RuleError(f"Prefer: {name}={raw!r} is not a number") from None


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


class Scenarios:
    """File rules (every process reads the file, reloaded on change) over run-time rules kept in the state."""

    def __init__(self, path: str | Path | None = None, state: State | None = None) -> None:
        self.path = Path(path) if path else None
        self.state: State = state or Memory()
        self.file_rules: list[Rule] = []
        self._stamp: float | None = None
        if self.path is not None:
            self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        assert self.path is not None
        stamp = self.path.stat().st_mtime
        if not force and stamp == self._stamp:
            return
        data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        specs = data.get("rules", []) if isinstance(data, dict) else None
        if not isinstance(specs, list):
            raise RuleError(f"{self.path}: expected `rules:` with a list of rules")
        self.file_rules = [rule(s, "file", f"file-{i + 1}") for i, s in enumerate(specs)]
        self._stamp = stamp

    def _file(self) -> list[Rule]:
        if self.path is None:
            return []
        try:
            self._reload()
        except (OSError, RuleError, yaml.YAMLError):
            pass  # a half-written file keeps the last good rules
        return self.file_rules

    async def add(self, spec: Mapping[str, Any], namespace: str | None = None) -> Rule:
        """A run-time rule for the requests of `namespace` (None: those outside any)."""
        new = rule(spec, "admin")
        new.namespace = namespace
        return await self.state.add(new)

    async def remove(self, rule_id: str, namespace: str | None = None) -> bool:
        """Drop one of the namespace's run-time rules; whether it was there."""
        return await self.state.remove(namespace, rule_id)

    async def clear(self, namespace: str | None = None) -> None:
        """The run-time rules of `namespace` are gone (None: those outside any)."""
        await self.state.clear(namespace)

    async def rules(self, namespace: str | None = None) -> list[Rule]:
        """The rules the requests of `namespace` meet, with their hits: its run-time rules, then the file's."""
        listed = [*await self.state.rules(namespace), *self._file()]
        await self.state.count(listed)
        return listed

    async def match(
        self,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        alternative: str | None,
        prompts: Callable[[], list[str]],
    ) -> tuple[Rule, int] | None:
        """The first rule that matches, with its hit number (counted: `times` and `fail_first` are exact).

        `prompts` gives the request's prompts as text, asked for only when there is a rule to match.
        """
        prefer = headers.get("prefer")
        if prefer:
            one = from_prefer(prefer)
            if one is not None:
                return one, 1
        candidates = [*await self.state.rules(namespaces.current.get()), *self._file()]
        if not candidates:
            return None
        texts = prompts()
        for candidate in candidates:
            if candidate.matches(body, headers, alternative, texts):
                hit = await self.state.hit(candidate)
                if hit is not None:  # None: its `times` ran out, here or in another process
                    return candidate, hit
        return None
