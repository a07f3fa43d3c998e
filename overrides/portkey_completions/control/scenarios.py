"""Scenarios: where rules come from, and the one a request meets.

A rule (`rules.Rule`) is `{match: {...}, respond: {...}}`:

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

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from portkey_completions.core import names

from .rules import RESPOND_KEYS, Rule, RuleError, rule
from .state import RuleState

logger = logging.getLogger(__name__)


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
            raise RuleError("Prefer: " + names.unknown("preference", name, {"code"} | (RESPOND_KEYS - {"status"})))
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


class Scenarios:
    """File rules (every process reads the file, reloaded on change) over run-time rules kept in the state."""

    def __init__(self, state: RuleState, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.state = state
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

    def reload(self) -> None:
        """Read the scenario file again now (SIGHUP); one that cannot be used keeps the last good rules."""
        if self.path is None:
            return
        try:
            self._reload(force=True)
        except (OSError, RuleError, yaml.YAMLError) as exc:
            logger.warning("scenarios %s not reloaded, the last good rules stay: %s", self.path, exc)

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
        namespace: str | None = None,
    ) -> tuple[Rule, int] | None:
        """The first rule of `namespace` that matches, with its hit number (`times` and `fail_first` count exactly).

        `prompts` gives the request's prompts as text, asked for only when there is a rule to match.
        """
        prefer = headers.get("prefer")
        if prefer:
            one = from_prefer(prefer)
            if one is not None:
                return one, 1
        candidates = [*await self.state.rules(namespace), *self._file()]
        if not candidates:
            return None
        texts = prompts()
        for candidate in candidates:
            if candidate.matches(body, headers, alternative, texts):
                hit = await self.state.hit(candidate)
                if hit is not None:  # None: its `times` ran out, here or in another process
                    return candidate, hit
        return None
