"""What a spec update changes for clients: the served operations of two OpenAPI files, compared.

Each change is one line: a level (`breaking`, `warning`, `info`), a check id, the operation, where
in the new file (the old one for what went away) as a JSON pointer, and a sentence. The ids are
oasdiff's where it has a check of that meaning (`request-property-removed`,
`new-required-request-property`, `response-success-status-removed`, …), so a team that knows
oasdiff reads them at once. Both files are compared over the served operations only, following
`$ref`s; the published file's other operations are counted, and those new since the last pin are
named with the line that serves them.

Levels, from the client's side: `breaking` is a request that worked and now fails, or an answer a
client read and now cannot; `warning` breaks strict clients only; `info` breaks nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .schema_diff import Side, Walk, escape
from .spec import METHODS
from .spec_changes import FORMATS, LEVELS, Change, Report, rendered

__all__ = ["FORMATS", "LEVELS", "Change", "Report", "diff", "named", "operations", "rendered"]


def named(entry: object) -> str:
    """An operation as a person writes one in overrides/operations.yaml (or an overlay action's
    x-portkey-if-served), as `operations` names it: the method in lower case, then the path."""
    method, _, path = str(entry).strip().partition(" ")
    return f"{method.lower()} {path.strip()}"


def operations(document: Mapping[str, Any]) -> list[str]:
    """Every operation of a file, as overrides/operations.yaml writes one: `post /completions`."""
    paths: Mapping[str, Any] = document.get("paths") or {}
    return [f"{m} {p}" for p, item in paths.items() for m in item if m in METHODS]


def diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    served: Iterable[str],
    known: Iterable[str] | None = None,
) -> Report:
    """The changes between two files over the `served` operations (`post /completions`).

    `known`: the operations the last pinned file had; those of `new` outside it and not served
    are named as new (None: the old file's).
    """
    served = list(served)
    report = Report()
    before, after = Side(old), Side(new)
    _servers(before, after, served, report)
    for name in served:
        _operation(before, after, name, report)
    known_set = set(operations(old) if known is None else known)
    report.not_served = [o for o in operations(new) if o not in served]
    report.new_operations = [o for o in report.not_served if o not in known_set]
    return report


def _servers(before: Side, after: Side, served: list[str], report: Report) -> None:
    old_urls = [s.get("url") for s in before.document.get("servers") or []]
    new_urls = [s.get("url") for s in after.document.get("servers") or []]
    if old_urls != new_urls:
        report.changes.append(
            Change(
                "warning", "api-servers-changed", "", "#/servers", f"the servers changed from {old_urls} to {new_urls}"
            )
        )
    for name in served:
        old_base, new_base = before.base_path(name), after.base_path(name)
        if before.operation(name) and after.operation(name) and old_base != new_base:
            report.changes.append(
                Change(
                    "breaking",
                    "api-base-path-changed",
                    name,
                    "#/servers",
                    f"the base path moved from {old_base} to {new_base}",
                )
            )


def _operation(before: Side, after: Side, name: str, report: Report) -> None:
    old, new = before.operation(name), after.operation(name)
    add = report.changes.append
    if old is None and new is None:
        return
    if new is None:
        assert old is not None
        at, gone = old
        if gone.get("deprecated"):
            add(Change("warning", "api-removed-after-deprecation", name, at, "the deprecated operation was removed"))
        else:
            add(Change("breaking", "api-removed-without-deprecation", name, at, "the operation was removed"))
        return
    if old is None:
        add(Change("info", "endpoint-added", name, new[0], "the operation was added"))
        return
    (old_at, old_op), (new_at, new_op) = old, new
    if new_op.get("deprecated") and not old_op.get("deprecated"):
        add(Change("warning", "endpoint-deprecated", name, new_at, "the operation is deprecated"))
    _security(before, after, name, old_op, new_op, new_at, report)
    _request(before, after, name, (old_at, old_op), (new_at, new_op), report)
    _responses(before, after, name, (old_at, old_op), (new_at, new_op), report)


def _alternatives(side: Side, operation: Mapping[str, Any]) -> dict[frozenset[str], str]:
    """The operation's security alternatives, each as the headers it needs -> a label."""
    schemes = (side.document.get("components") or {}).get("securitySchemes") or {}
    requirements = operation.get("security", side.document.get("security") or [])
    found = {}
    for requirement in requirements:
        needs = frozenset(
            "authorization"
            if schemes.get(n, {}).get("type") == "http"
            else str(schemes.get(n, {}).get("name", n)).lower()
            for n in requirement
        )
        found[needs] = " + ".join(sorted(needs)) or "no credentials"
    return found


def _security(
    before: Side,
    after: Side,
    name: str,
    old_op: Mapping[str, Any],
    new_op: Mapping[str, Any],
    at: str,
    report: Report,
) -> None:
    old, new = _alternatives(before, old_op), _alternatives(after, new_op)
    for needs, label in old.items():
        if needs not in new:
            text = f"the auth alternative {label} is gone: a client using it is refused"
            report.changes.append(Change("breaking", "api-security-removed", name, f"{at}/security", text))
    for needs, label in new.items():
        if needs not in old:
            text = f"a new auth alternative: {label}"
            report.changes.append(Change("info", "api-security-added", name, f"{at}/security", text))


def _body_schema(side: Side, at: str, operation: Mapping[str, Any]) -> tuple[str, Any, bool]:
    body_at, body = side.resolved(f"{at}/requestBody", operation.get("requestBody"))
    media = ((body or {}).get("content") or {}).get("application/json") or {}
    schema_at, schema = side.resolved(f"{body_at}/content/application~1json/schema", media.get("schema"))
    return schema_at, schema or {}, bool((body or {}).get("required"))


def _request(
    before: Side,
    after: Side,
    name: str,
    old: tuple[str, Mapping[str, Any]],
    new: tuple[str, Mapping[str, Any]],
    report: Report,
) -> None:
    old_at, old_schema, old_required = _body_schema(before, *old)
    new_at, new_schema, new_required = _body_schema(after, *new)
    if new_required and not old_required:
        report.changes.append(
            Change("breaking", "request-body-became-required", name, new[0], "the request body is now required")
        )
    walk = Walk(before, after, name, "request", report)
    walk.properties(old_at, old_schema, new_at, new_schema, "", 0)


def _responses(
    before: Side,
    after: Side,
    name: str,
    old: tuple[str, Mapping[str, Any]],
    new: tuple[str, Mapping[str, Any]],
    report: Report,
) -> None:
    old_responses, new_responses = old[1].get("responses") or {}, new[1].get("responses") or {}
    add = report.changes.append
    for status in old_responses:
        if status not in new_responses:
            success = status.startswith("2")
            level, check = (
                ("breaking", "response-success-status-removed")
                if success
                else ("warning", "response-non-success-status-removed")
            )
            add(
                Change(
                    level, check, name, f"{old[0]}/responses/{status}", f"the response {status} is no longer declared"
                )
            )
    for status in new_responses:
        at = f"{new[0]}/responses/{status}"
        if status not in old_responses:
            check = "response-success-status-added" if status.startswith("2") else "response-non-success-status-added"
            add(Change("info", check, name, at, f"a new response: {status}"))
            continue
        old_at, old_response = before.resolved(f"{old[0]}/responses/{status}", old_responses[status])
        new_at, new_response = after.resolved(at, new_responses[status])
        _headers(name, status, (old_at, old_response or {}), (new_at, new_response or {}), report)
        walk = Walk(before, after, name, f"response {status}", report)
        for media, (old_schema_at, old_schema, new_schema_at, new_schema) in _media(
            before, after, old_at, old_response, new_at, new_response
        ).items():
            walk.label = f"response {status} {media}"
            walk.properties(old_schema_at, old_schema, new_schema_at, new_schema, "", 0)


def _media(
    before: Side, after: Side, old_at: str, old: Any, new_at: str, new: Any
) -> dict[str, tuple[str, Any, str, Any]]:
    """The response's schemas both files declare, by media type (an SSE event's data schema where it names one)."""
    found = {}
    old_content, new_content = (old or {}).get("content") or {}, (new or {}).get("content") or {}
    for media in old_content:
        if media in new_content:
            key = escape(media)
            o_at, o = before.resolved(f"{old_at}/content/{key}/schema", old_content[media].get("schema"))
            n_at, n = after.resolved(f"{new_at}/content/{key}/schema", new_content[media].get("schema"))
            if media == "text/event-stream":
                o_at, o = _event_data(before, o_at, o)
                n_at, n = _event_data(after, n_at, n)
            found[media] = (o_at, o or {}, n_at, n or {})
    return found


def _event_data(side: Side, at: str, schema: Any) -> tuple[str, Any]:
    data = ((schema or {}).get("properties") or {}).get("data") or {}
    if "x-contentSchema" in data:
        return side.resolved(f"{at}/properties/data/x-contentSchema", data["x-contentSchema"])
    if "x-contentSchema" in (schema or {}):
        return side.resolved(f"{at}/x-contentSchema", schema["x-contentSchema"])
    return at, schema


def _headers(
    name: str, status: str, old: tuple[str, Mapping[str, Any]], new: tuple[str, Mapping[str, Any]], report: Report
) -> None:
    old_headers = {k.lower(): v for k, v in (old[1].get("headers") or {}).items()}
    new_headers = {k.lower(): v for k, v in (new[1].get("headers") or {}).items()}
    for header, declared in old_headers.items():
        if header not in new_headers:
            level = "breaking" if declared.get("required") else "warning"
            text = f"the response {status} no longer has the header {header}"
            report.changes.append(Change(level, "response-header-removed", name, f"{old[0]}/headers", text))
    for header in new_headers:
        if header not in old_headers:
            text = f"the response {status} has a new header {header}"
            report.changes.append(Change("info", "new-response-header", name, f"{new[0]}/headers", text))
