"""Contract coverage: what a run's requests exercised of the spec, item by item, read from the spec itself.

For each served operation the items are, by dimension:
- `responses`: each status the operation declares, and those this server gives for it (`SERVER_STATUSES`);
- `fields`: each request body property sent; a boolean's values, an enum's, a `oneOf`/`anyOf`'s
  branches, a declared minimum and maximum, and null where the property is nullable;
- `refused`: each property, when a 400 named it (its `param`);
- `alternatives`: the spec's auth alternatives (and `openai_compatible` when that is on);
- `streaming`: answers not streamed and streamed, and a stream that ended early (a fault, the client leaving);
- `faults`: each key of a scenario rule's `respond` (admin.yaml's RuleSpec), when a rule applied it;
- `gateway` (with a store): each strategy mode, a retry, cache HIT and MISS, each provider routed to.

Nothing here names a field or a status of today's spec: a new one appears after `make gen`. The
edge tallies each finished request (`Coverage.tally`) from its journal entry, its outcome and its
validated body; the state counts the keys, apart from the journal (`state.CoverageState`), and
`coverage_report` turns the counts into the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portkey_completions.call.record import Call, Outcome
from portkey_completions.core import spec as specs
from portkey_completions.gateway.config_format import MODES

from .coverage_items import Item, key
from .entry import Entry
from .rules import RESPOND_KEYS
from .state import CoverageState

# What this server answers beyond what an operation declares: refusals, scenario and upstream statuses.
SERVER_STATUSES = (400, 401, 404, 408, 413, 415, 429, 500, 502, 503, 504)
SERVER_FAULT = "server fault"  # a 5xx the server gave for its own failure, named apart from the spec's
FAULTS = tuple(sorted(RESPOND_KEYS - {"times"}))  # `times` bounds a rule; it is no fault
STREAMS = ("not streamed", "streamed", "stream ended early")
CACHE_STATUSES = ("HIT", "MISS")
RETRY = "retry"


MEMO = 256  # requests, and values per field, remembered with the keys they count (a suite sends the same few often)
MEMO_BODY = 4096  # bytes: a longer body is walked each time rather than kept
_SCALARS = frozenset({str, bool, int, float})


@dataclass(slots=True)
class _Field:
    """One request property, compiled to the keys its values count."""

    sent: str
    null: str | None = None
    values: dict[tuple[type, Any], str] = field(default_factory=dict)  # (type, value) -> key: True is not 1
    branches: list[tuple[Any, str]] = field(default_factory=list)  # (schema, key), first that fits
    minimum: tuple[Any, str] | None = None
    maximum: tuple[Any, str] | None = None
    memo: dict[tuple[type, Any], tuple[str, ...]] = field(default_factory=dict)

    def count(self, value: Any, out: list[str]) -> None:
        out.append(self.sent)
        kind = type(value)
        if kind in _SCALARS:
            found = self.memo.get((kind, value))
            if found is None:
                found = self._detail(value)
                if len(self.memo) >= MEMO:
                    self.memo.clear()
                self.memo[(kind, value)] = found
            out += found
        else:
            out += self._detail(value)

    def _detail(self, value: Any) -> tuple[str, ...]:
        """What a value counts beyond `sent`: null, its value, the branch it fits, a bound it is at."""
        out = []
        if value is None:
            if self.null is not None:
                out.append(self.null)
            out += [branch for schema, branch in self.branches if _fits(schema, None)][:1]
            return tuple(out)
        found = self.values.get((type(value), value)) if type(value) in _SCALARS else None
        if found is not None:
            out.append(found)
        for schema, branch in self.branches:
            if _fits(schema, value):
                out.append(branch)
                break
        if type(value) is not bool:
            if self.minimum is not None and value == self.minimum[0]:
                out.append(self.minimum[1])
            if self.maximum is not None and value == self.maximum[0]:
                out.append(self.maximum[1])
        return tuple(out)


@dataclass
class Operation:
    """One served operation's items, and what its requests count."""

    name: str  # `POST /v1/completions`
    items: list[Item]
    fields: dict[str, _Field]
    pattern: re.Pattern[str] | None  # for a templated path; None: matched by name
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (dimension, name) -> its counter's key

    tallies: dict[tuple[Any, ...], tuple[str, ...]] = field(default_factory=dict)  # what a request said -> its keys

    def add(self, dimension: str, name: str, pointer: str = "") -> str:
        self.items.append(Item(dimension, name, pointer))
        return self.key(dimension, name)

    def sent(self, body: Mapping[str, Any]) -> tuple[str, ...]:
        """What a validated body counts: each field's items, and whether it asked for a stream."""
        out: list[str] = []
        fields = self.fields
        for prop, value in body.items():
            compiled = fields.get(prop)
            if compiled is not None:
                compiled.count(value, out)
        out.append(self.key("streaming", STREAMS[1] if body.get("stream") else STREAMS[0]))
        return tuple(out)

    def key(self, dimension: str, name: str) -> str:
        """An item's counter key, made once (a request names the same few statuses and alternatives)."""
        found = self.keys.get((dimension, name))
        if found is None:
            found = self.keys[(dimension, name)] = key(self.name, dimension, name)
        return found


class Coverage:
    """The items of every served operation, and the tally of one finished request."""

    def __init__(
        self,
        alternatives: Iterable[str],
        *,
        gateway: bool = False,
        providers: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """`alternatives`: the names the journal gives them. `gateway`: a store is configured, so its
        dimension counts. `providers`: the providers a request may be routed to now (the store's)."""
        self.gateway = gateway
        self.providers = providers
        self.operations: dict[str, Operation] = {}
        loaded, base = specs.load(), specs.base_path()
        for path, item in loaded["paths"].items():
            for method, operation in item.items():
                if method in specs.METHODS and isinstance(operation, dict):
                    built = _operation(loaded, base, path, method, operation, tuple(alternatives), gateway)
                    self.operations[built.name] = built
        self._templated = [o for o in self.operations.values() if o.pattern is not None]
        self._exact = {tuple(n.split(" ", 1)): o for n, o in self.operations.items() if o.pattern is None}

    def items(self, operation: Operation) -> list[Item]:
        """The operation's items: the spec's, and the providers the store routes to now."""
        if not self.gateway:
            return operation.items
        return [*operation.items, *(Item("gateway", f"provider: {p}", "") for p in self.providers())]

    def operation(self, method: str, path: str) -> Operation | None:
        """The served operation a request was for, by its method and path under the base path."""
        found = self._exact.get((method, path))
        if found is not None:
            return found
        for operation in self._templated:
            if operation.name.startswith(method + " ") and operation.pattern and operation.pattern.fullmatch(path):
                return operation
        return None

    def tally(
        self,
        entry: Entry,
        outcome: Outcome | None,
        call: Call,
        *,
        refused: str | None = None,
        ended_early: bool = False,
    ) -> tuple[str, ...]:
        """The keys one finished request counts: the entry and outcome say what happened, the body what was sent.

        `refused`: the `param` of the 400 it got. `ended_early`: a stream that did not end as the spec says.
        """
        operation = self._exact.get((entry.method, entry.path)) or self.operation(entry.method, entry.path)
        if operation is None:
            return ()
        # What a request counts is what these say: one sent again (most are) is looked up, not worked out.
        raw = entry.body
        said = (entry.status, entry.alternative, refused, ended_early, outcome is None, call.body is None, raw)
        found = operation.tallies.get(said) if type(raw) is bytes else None
        if found is None:
            found = self._worked_out(operation, entry, outcome, call, refused, ended_early)
            if type(raw) is bytes and len(raw) <= MEMO_BODY:
                if len(operation.tallies) >= MEMO:
                    operation.tallies.clear()  # a bound, and the next few hundred kinds of request take their place
                operation.tallies[said] = found
        if outcome is not None and (outcome.faults or (self.gateway and outcome.routed is not None)):
            return found + self._outcome(operation, outcome)
        return found

    def _worked_out(
        self,
        operation: Operation,
        entry: Entry,
        outcome: Outcome | None,
        call: Call,
        refused: str | None,
        ended_early: bool,
    ) -> tuple[str, ...]:
        status = entry.status or 499
        fault = status >= 500 and outcome is None and entry.status is not None  # no room answered: the server's own
        out = [operation.key("responses", f"{status} {SERVER_FAULT}" if fault else str(status))]
        if entry.alternative is not None:
            out.append(operation.key("alternatives", entry.alternative))
        body = call.body
        if refused is not None and status == 400:
            out.append(operation.key("refused", refused))
        elif body is not None:
            out += operation.sent(body)
            if ended_early and body.get("stream"):
                out.append(operation.key("streaming", STREAMS[2]))
        return tuple(out)

    def _outcome(self, operation: Operation, outcome: Outcome) -> tuple[str, ...]:
        """What the outcome adds: the faults a scenario applied, where the gateway routed."""
        out = [operation.key("faults", f) for f in outcome.faults]
        routed = outcome.routed
        if routed is not None and self.gateway:
            out += [operation.key("gateway", f"strategy: {m}") for m in routed.strategies]
            out.append(operation.key("gateway", f"provider: {routed.provider}"))
            if routed.retries:
                out.append(operation.key("gateway", RETRY))
            if routed.cache in CACHE_STATUSES:
                out.append(operation.key("gateway", f"cache: {routed.cache}"))
        return tuple(out)


def _operation(
    loaded: Mapping[str, Any],
    base: str,
    path: str,
    method: str,
    declared: Mapping[str, Any],
    alternatives: tuple[str, ...],
    gateway: bool,
) -> Operation:
    full = base + path
    pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(full))) if "{" in path else None
    operation = Operation(f"{method.upper()} {full}", [], {}, pattern)
    at = f"#/paths/{_escape(path)}/{method}"
    statuses = [s for s in declared.get("responses", {}) if s.isdigit()]
    for status in sorted({*statuses, *(str(s) for s in SERVER_STATUSES)}):
        operation.add("responses", status, f"{at}/responses/{status}" if status in statuses else "")
    body_at, body = _resolved(loaded, f"{at}/requestBody", declared.get("requestBody"))
    media = (body or {}).get("content", {}).get("application/json")
    schema_at, schema = _resolved(loaded, f"{body_at}/content/application~1json/schema", (media or {}).get("schema"))
    for prop, declared_prop in ((schema or {}).get("properties") or {}).items():
        prop_at, prop_schema = _resolved(loaded, f"{schema_at}/properties/{_escape(prop)}", declared_prop)
        operation.fields[prop] = _field(operation, loaded, prop, prop_at, prop_schema or {})
        operation.add("refused", prop, prop_at)
    requirements = declared.get("security", loaded.get("security", []))
    listed = f"{at}/security" if "security" in declared else "#/security"
    for i, alternative in enumerate(alternatives):  # the spec's, in its order, then openai_compatible
        operation.add("alternatives", alternative, f"{listed}/{i}" if i < len(requirements) else "")
    if schema and "stream" in (schema.get("properties") or {}):
        for name in STREAMS:
            operation.add("streaming", name)
    for fault in FAULTS:
        operation.add("faults", fault)
    if gateway:
        for name in (*(f"strategy: {m}" for m in MODES), RETRY, *(f"cache: {c}" for c in CACHE_STATUSES)):
            operation.add("gateway", name)
    return operation


def _field(operation: Operation, loaded: Mapping[str, Any], prop: str, at: str, schema: Mapping[str, Any]) -> _Field:
    compiled = _Field(operation.add("fields", f"{prop}: sent", at))
    if schema.get("nullable") or schema.get("type") == "null":
        compiled.null = operation.add("fields", f"{prop}: null", at)
    _values(operation, prop, at, schema, compiled)
    for kind in ("oneOf", "anyOf"):
        for i, declared in enumerate(schema.get(kind) or ()):
            branch_at, branch = _resolved(loaded, f"{at}/{kind}/{i}", declared)
            label = f"{prop}: {kind}[{i}] {_label(loaded, branch or {})}"
            compiled.branches.append((_inlined(loaded, branch or {}), operation.add("fields", label, branch_at)))
            _values(operation, prop, branch_at, branch or {}, compiled)
    # A value of an enum branch fits a plain `string` branch too: the narrower branch is the one it exercised.
    compiled.branches.sort(key=lambda branch: "enum" not in branch[0])
    return compiled


def _values(operation: Operation, prop: str, at: str, schema: Mapping[str, Any], compiled: _Field) -> None:
    """A schema's countable values: a boolean's two, an enum's, a declared minimum and maximum."""
    if schema.get("type") == "boolean":
        for value in (True, False):
            compiled.values[(bool, value)] = operation.add("fields", f"{prop}: {str(value).lower()}", at)
    for value in schema.get("enum") or ():
        if value is not None:
            compiled.values[(type(value), value)] = operation.add("fields", f"{prop}: {value!r}", f"{at}/enum")
    if schema.get("type") in ("integer", "number"):
        if "minimum" in schema and compiled.minimum is None:
            minimum = schema["minimum"]
            compiled.minimum = (minimum, operation.add("fields", f"{prop}: at minimum ({minimum})", f"{at}/minimum"))
        if "maximum" in schema and compiled.maximum is None:
            maximum = schema["maximum"]
            compiled.maximum = (maximum, operation.add("fields", f"{prop}: at maximum ({maximum})", f"{at}/maximum"))


def _label(loaded: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """A branch in a word or three: `string`, `array of integer`, `array of array of integer`, `enum`."""
    if "enum" in schema:
        return "null" if schema["enum"] == [None] else "enum"
    kind = schema.get("type")
    if kind == "array":
        _, items = _resolved(loaded, "", schema.get("items"))
        return f"array of {_label(loaded, items or {})}"
    if kind is None and (schema.get("oneOf") or schema.get("anyOf")):
        return " or ".join(
            _label(loaded, _resolved(loaded, "", s)[1] or {}) for s in schema.get("oneOf") or schema["anyOf"]
        )
    return str(kind or "any")


def _fits(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether a value is of a branch's shape (types, an enum, an array's first item): enough to tell branches apart."""
    if value is None:
        return bool(schema.get("nullable")) or schema.get("type") == "null" or None in (schema.get("enum") or ())
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind is not None and not isinstance(value, _TYPES.get(kind, object)):
        return False
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "array" and value and "items" in schema:
        return _fits(schema["items"], value[0])
    nested = schema.get("oneOf") or schema.get("anyOf")
    return any(_fits(s, value) for s in nested) if nested else True


_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _resolved(loaded: Mapping[str, Any], at: str, node: Any) -> tuple[str, Any]:
    """A node with its `$ref`s followed, and the JSON pointer of where it is declared."""
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        at, node = ref, loaded
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return at, node


def _inlined(loaded: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """A schema with its `$ref`s followed (for `_fits`, which reads no spec); a recursive one to a depth."""
    _, node = _resolved(loaded, "", node)
    if depth > _DEPTH:
        return {}  # anything fits: deeper than any branch is told apart by
    if isinstance(node, Mapping):
        return {k: _inlined(loaded, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(loaded, v, depth + 1) for v in node]
    return node


_DEPTH = 16


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Collector:
    """Coverage's items and the state that counts them: what the edge hands each finished request to."""

    def __init__(self, coverage: Coverage, counts: CoverageState) -> None:
        self.coverage = coverage
        self.counts = counts

    def finished(
        self, entry: Entry, outcome: Outcome | None, call: Call, *, refused: str | None, ended_early: bool
    ) -> None:
        """A request ended: its items counted (`Coverage.tally`)."""
        self.counts.covered(
            call.namespace, self.coverage.tally(entry, outcome, call, refused=refused, ended_early=ended_early)
        )
