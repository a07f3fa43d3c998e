"""Two versions of a schema compared property by property, for a request or a response (`spec_diff`'s).

A request's change is breaking when a body that was valid is refused now (a property removed or
made required, a bound tightened, an enum value or a null taken away); a response's when an
answer a client read may no longer be read (a property removed or made optional, a null or a new
type, where `warning` marks what breaks strict clients only: a new enum value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .spec_changes import Change, Report

_BOUNDS = {  # keyword -> (id stem, which way tightens for a request)
    "maximum": ("max", "decreased"),
    "minimum": ("min", "increased"),
    "maxLength": ("max-length", "decreased"),
    "minLength": ("min-length", "increased"),
    "maxItems": ("max-items", "decreased"),
    "minItems": ("min-items", "increased"),
}
_DEPTH = 12  # nested properties followed; deeper is a schema that recurses


class Side:
    """One file, read: its operations, with `$ref`s followed and where each node sits."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolved(self, at: str, node: Any) -> tuple[str, Any]:
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node and seen < _DEPTH:
            at, node, seen = str(node["$ref"]), self.document, seen + 1
            for part in at.removeprefix("#/").split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, Mapping) else {}
        return at, node

    def operation(self, name: str) -> tuple[str, Mapping[str, Any]] | None:
        method, _, path = name.partition(" ")
        item = (self.document.get("paths") or {}).get(path) or {}
        found = item.get(method)
        return (f"#/paths/{escape(path)}/{method}", found) if isinstance(found, Mapping) else None

    def base_path(self, name: str) -> str | None:
        """The path of the operation's server URL (operation, path item, then file)."""
        method, _, path = name.partition(" ")
        item = (self.document.get("paths") or {}).get(path) or {}
        servers = (item.get(method) or {}).get("servers") or item.get("servers") or self.document.get("servers")
        if not servers:
            return None
        url = str(servers[0].get("url", ""))
        return "/" + url.split("://", 1)[-1].partition("/")[2].rstrip("/") if "://" in url else url.rstrip("/")


def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Walk:
    """Two versions of one schema, compared property by property, for a request or a response."""

    def __init__(self, before: Side, after: Side, name: str, label: str, report: Report) -> None:
        self.before, self.after, self.name, self.label, self.report = before, after, name, label, report
        self.request = label == "request"

    def add(self, level: str, check: str, at: str, text: str) -> None:
        self.report.changes.append(Change(level, check, self.name, at, f"{self.label}: {text}"))

    def properties(self, old_at: str, old: Any, new_at: str, new: Any, prefix: str, depth: int) -> None:
        if depth > _DEPTH:
            return
        old_props, new_props = _props(self.before, old), _props(self.after, new)
        old_required, new_required = set(old.get("required") or ()), set(new.get("required") or ())
        side = "request" if self.request else "response"
        for prop, declared in old_props.items():
            where = f"{prefix}{prop}"
            if prop not in new_props:
                if self.request:
                    self.add(
                        "breaking",
                        "request-property-removed",
                        f"{old_at}/properties/{escape(prop)}",
                        f"{where} was removed",
                    )
                else:
                    level = "breaking" if prop in old_required else "warning"
                    self.add(
                        level,
                        "response-property-removed",
                        f"{old_at}/properties/{escape(prop)}",
                        f"{where} was removed",
                    )
                continue
            o_at, o = self.before.resolved(f"{old_at}/properties/{escape(prop)}", declared)
            n_at, n = self.after.resolved(f"{new_at}/properties/{escape(prop)}", new_props[prop])
            self._required(prop in old_required, prop in new_required, n_at, where)
            self.compare(o_at, o or {}, n_at, n or {}, where, depth)
        for prop in new_props:
            if prop not in old_props:
                at = f"{new_at}/properties/{escape(prop)}"
                if self.request:
                    required = prop in new_required
                    check = "new-required-request-property" if required else "new-optional-request-property"
                    self.add(
                        "breaking" if required else "info",
                        check,
                        at,
                        f"{prefix}{prop} was added{' (required)' if required else ''}",
                    )
                else:
                    self.add("info", f"{side}-property-added", at, f"{prefix}{prop} was added")

    def _required(self, was: bool, now: bool, at: str, where: str) -> None:
        if was == now:
            return
        if self.request:
            if now:
                self.add("breaking", "request-property-became-required", at, f"{where} is now required")
            else:
                self.add("info", "request-property-became-optional", at, f"{where} is now optional")
        elif was:
            self.add("breaking", "response-property-became-optional", at, f"{where} may now be absent")
        else:
            self.add("info", "response-property-became-required", at, f"{where} is now always present")

    def compare(
        self, o_at: str, old: Mapping[str, Any], n_at: str, new: Mapping[str, Any], where: str, depth: int
    ) -> None:
        side = "request" if self.request else "response"
        if _types(self.before, old) != _types(self.after, new):
            self.add(
                "breaking",
                f"{side}-property-type-changed",
                n_at,
                f"{where}'s type changed from {_shown(_types(self.before, old))} to {_shown(_types(self.after, new))}",
            )
        self._nullable(_nullable(old), _nullable(new), n_at, where)
        self._enum(_enum(self.before, old), _enum(self.after, new), n_at, where)
        if self.request:
            self._bounds(old, new, n_at, where)
            if "default" in old and "default" in new and old["default"] != new["default"]:
                self.add(
                    "warning",
                    "request-property-default-value-changed",
                    n_at,
                    f"{where}'s default changed from {old['default']!r} to {new['default']!r}",
                )
        if new.get("deprecated") and not old.get("deprecated"):
            self.add("info", f"{side}-property-deprecated", n_at, f"{where} is deprecated")
        self.properties(o_at, _object(self.before, old), n_at, _object(self.after, new), f"{where}.", depth + 1)
        o_items_at, o_items = self.before.resolved(f"{o_at}/items", _object(self.before, old, "items"))
        n_items_at, n_items = self.after.resolved(f"{n_at}/items", _object(self.after, new, "items"))
        if o_items and n_items:
            self.properties(o_items_at, o_items, n_items_at, n_items, f"{where}[].", depth + 1)

    def _nullable(self, was: bool, now: bool, at: str, where: str) -> None:
        if was == now:
            return
        if self.request:
            if was:
                self.add("breaking", "request-property-became-not-nullable", at, f"{where} may no longer be null")
            else:
                self.add("info", "request-property-became-nullable", at, f"{where} may now be null")
        elif now:
            self.add("breaking", "response-property-became-nullable", at, f"{where} may now be null")
        else:
            self.add("info", "response-property-became-not-nullable", at, f"{where} is no longer null")

    def _enum(self, old: set[Any] | None, new: set[Any] | None, at: str, where: str) -> None:
        if old is None or new is None:
            return
        side = "request" if self.request else "response"
        for value in sorted(old - new, key=repr):
            level = "breaking" if self.request else "info"
            self.add(level, f"{side}-property-enum-value-removed", at, f"{where} no longer takes {value!r}")
        for value in sorted(new - old, key=repr):
            level = "info" if self.request else "warning"
            self.add(level, f"{side}-property-enum-value-added", at, f"{where} takes a new value {value!r}")

    def _bounds(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str, where: str) -> None:
        old_bounds, new_bounds = _bounds(self.before, old), _bounds(self.after, new)
        for keyword, (stem, tightens) in _BOUNDS.items():
            was, now = old_bounds.get(keyword), new_bounds.get(keyword)
            if was == now or (was is None and now is None):
                continue
            if was is None or now is None:
                tighter = now is not None
                way = "added" if tighter else "removed"
                self.add(
                    "breaking" if tighter else "info",
                    f"request-property-{stem}-{way}",
                    at,
                    f"{where}'s {keyword} {way} ({now if tighter else was})",
                )
                continue
            moved = "decreased" if now < was else "increased"
            level = "breaking" if moved == tightens else "info"
            self.add(level, f"request-property-{stem}-{moved}", at, f"{where}'s {keyword} {moved} from {was} to {now}")


def _branches(side: Side, schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A schema's alternatives (its oneOf/anyOf branches, resolved), or itself."""
    found = []
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key) or ():
            found.append(side.resolved("", branch)[1] or {})
    return found or [schema]


def _types(side: Side, schema: Mapping[str, Any]) -> frozenset[str]:
    types = set()
    for branch in _branches(side, schema):
        kind = branch.get("type")
        if kind is None and branch.get("enum") == [None]:
            continue  # a null branch: nullability, said apart
        if kind == "array":
            items = side.resolved("", branch.get("items"))[1] or {}
            kind = f"array of {'|'.join(sorted(_types(side, items))) or 'any'}"
        types.add(str(kind or "any"))
    return frozenset(types)


def _shown(types: frozenset[str]) -> str:
    return " or ".join(sorted(types)) or "any"


def _nullable(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("nullable")) or any(
        isinstance(b, Mapping) and (b.get("enum") == [None] or b.get("type") == "null")
        for key in ("oneOf", "anyOf")
        for b in schema.get(key) or ()
    )


def _enum(side: Side, schema: Mapping[str, Any]) -> set[Any] | None:
    """The values an enum allows (across branches that are enums), or None when it is not one."""
    values: set[Any] = set()
    found = False
    for branch in _branches(side, schema):
        if "enum" in branch and branch["enum"] != [None]:
            found = True
            values |= {v for v in branch["enum"] if v is not None}
    return values if found else None


def _bounds(side: Side, schema: Mapping[str, Any]) -> dict[str, Any]:
    for branch in _branches(side, schema):
        found = {k: branch[k] for k in _BOUNDS if k in branch}
        if found:
            return found
    return {}


def _object(side: Side, schema: Mapping[str, Any], key: str = "") -> Any:
    """The object schema whose properties to follow (or, with `key`, an array's items) in the schema or a branch."""
    for branch in _branches(side, schema):
        if key:
            if branch.get("type") == "array" and "items" in branch:
                return branch["items"]
        elif branch.get("properties"):
            return branch
    return {}


def _props(side: Side, schema: Any) -> dict[str, Any]:
    """The properties of an object schema, with `allOf` parts merged."""
    if not isinstance(schema, Mapping):
        return {}
    props = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        props.update(_props(side, side.resolved("", part)[1]))
    return props
