"""A spec diff's report: each change as a line (level, check id, operation, where, sentence), and its forms.

The JSON form (`Report.fields`) is stable: `SCHEMA_VERSION` changes only when a field changes
meaning or goes away (docs/spec-and-gen.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

LEVELS = ("breaking", "warning", "info")
SCHEMA_VERSION = 1  # of the JSON form (`Report.fields`)


@dataclass(frozen=True)
class Change:
    level: str
    id: str
    operation: str  # `post /completions`, or "" for the whole file
    path: str  # a JSON pointer into the new file (the old one for what was removed)
    text: str


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)
    not_served: list[str] = field(default_factory=list)  # the new file's operations not served
    new_operations: list[str] = field(default_factory=list)  # of those, the ones new since the last pin

    def count(self, level: str) -> int:
        return sum(1 for c in self.changes if c.level == level)

    def fails(self, fail_on: str | None) -> bool:
        """Whether a change at `fail_on` or worse is in the report (`breaking` or `warning`; None: never)."""
        if fail_on is None:
            return False
        worst = LEVELS[: LEVELS.index(fail_on) + 1]
        return any(c.level in worst for c in self.changes)

    def fields(self) -> dict[str, Any]:
        """The stable JSON form (docs/spec-and-gen.md)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "summary": {level: self.count(level) for level in LEVELS},
            "changes": [asdict(c) for c in self.changes],
            "not_served": self.not_served,
            "new_operations": [{"operation": o, "serve_with": f"  - {o}"} for o in self.new_operations],
        }


FORMATS = ("text", "json", "markdown")


def rendered(report: Report, form: str = "text") -> str:
    """The report as text (a line a change), JSON (`Report.fields`) or Markdown (a CI job summary)."""
    if form == "json":
        return json.dumps(report.fields(), indent=2) + "\n"
    markdown = form == "markdown"
    lines = (
        ["## Spec changes", "", "| level | check | operation | where | change |", "|---|---|---|---|---|"]
        if markdown
        else []
    )
    for c in report.changes:
        if markdown:
            lines.append(f"| {c.level} | `{c.id}` | `{c.operation}` | `{c.path}` | {c.text} |")
        else:
            lines.append(f"{c.level:<9} {c.id:<42} {c.operation or '(file)':<20} {c.path}  {c.text}")
    counts = ", ".join(f"{report.count(level)} {level}" for level in LEVELS)
    if lines:
        lines.append("")
    lines.append(f"{counts} among the served operations." if report.changes else "No change to the served operations.")
    if report.not_served:
        count = len(report.not_served)
        many = ("s", "are") if count > 1 else ("", "is")
        lines.append(f"{count} operation{many[0]} of the new file {many[1]} not served (overrides/operations.yaml).")
    if report.new_operations:
        lines.append("New since the last pin; to serve one, add its line under `served:` in overrides/operations.yaml:")
        lines += [f"    - {o}" for o in report.new_operations]
    return "\n".join(lines) + "\n"
