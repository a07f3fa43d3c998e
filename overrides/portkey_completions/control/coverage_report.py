"""Contract coverage's report: the items with their counts, as stable JSON, and its forms for people.

The JSON (`assemble`) is what `GET /__admin/coverage` answers and `--portkey-coverage=json:PATH`
writes; every other form is rendered from it, so a saved report and a live server print alike
(`portkey-stub coverage --from FILE` or `--url`). Its schema is admin.yaml's `CoverageReport`;
`SCHEMA_VERSION` changes only when a field changes meaning or goes away. Reports of several
servers or processes (pytest-xdist's workers) are summed by `merge`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .coverage_items import DIMENSIONS, Item, key, parts

if TYPE_CHECKING:  # a report is read and printed without the server's modules (the pytest plugin, the CLI)
    from .coverage import Coverage

SCHEMA_VERSION = 1
FORMS = ("term", "term-missing", "json", "markdown", "html")  # what a report is printed or written as


def assemble(coverage: Coverage, counts: Mapping[str, int], namespace: str | None = None) -> dict[str, Any]:
    """The report of one server's counts: every item of every served operation, counted or not."""
    items = {name: coverage.items(operation) for name, operation in coverage.operations.items()}
    return _report(items, counts, namespace)


def merge(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several reports as one: items united, counts summed (pytest-xdist's workers, several servers)."""
    items: dict[str, dict[tuple[str, str], Item]] = {}
    counts: dict[str, int] = {}
    namespace = None
    for report in reports:
        namespace = report.get("namespace")
        for operation in report["operations"]:
            known = items.setdefault(operation["operation"], {})
            for dimension in operation["dimensions"]:
                for item in dimension["items"]:
                    known.setdefault(
                        (dimension["dimension"], item["name"]),
                        Item(dimension["dimension"], item["name"], item["pointer"]),
                    )
                    counted = key(operation["operation"], dimension["dimension"], item["name"])
                    counts[counted] = counts.get(counted, 0) + item["count"]
    return _report({op: list(found.values()) for op, found in items.items()}, counts, namespace)


def _report(items: Mapping[str, list[Item]], counts: Mapping[str, int], namespace: str | None) -> dict[str, Any]:
    seen = {name: {(i.dimension, i.name) for i in declared} for name, declared in items.items()}
    extra: dict[str, list[Item]] = {}
    for counted in counts:
        operation, dimension, name = parts(counted)
        if operation in seen and (dimension, name) not in seen[operation]:
            extra.setdefault(operation, []).append(Item(dimension, name, ""))  # seen, not declared: a 499, a provider
    operations: list[dict[str, Any]] = []
    for operation, declared in items.items():
        every = [*declared, *sorted(extra.get(operation, ()), key=lambda i: i.name)]
        dimensions: list[dict[str, Any]] = []
        for dimension in DIMENSIONS:
            mine = [
                {"name": i.name, "count": counts.get(key(operation, dimension, i.name), 0), "pointer": i.pointer}
                for i in every
                if i.dimension == dimension
            ]
            if mine:
                dimensions.append(
                    {"dimension": dimension, **_share(sum(1 for i in mine if i["count"]), len(mine)), "items": mine}
                )
        operations.append({"operation": operation, "dimensions": dimensions})
    by_dimension: dict[str, list[int]] = {}
    for reported in operations:
        for shown in reported["dimensions"]:
            tally = by_dimension.setdefault(shown["dimension"], [0, 0])
            tally[0] += shown["covered"]
            tally[1] += shown["total"]
    return {
        "schema_version": SCHEMA_VERSION,
        "namespace": namespace,
        "operations": operations,
        "dimensions": {d: _share(c, t) for d, (c, t) in by_dimension.items()},
        "total": _share(sum(c for c, _ in by_dimension.values()), sum(t for _, t in by_dimension.values())),
    }


def _share(covered: int, total: int) -> dict[str, Any]:
    return {"covered": covered, "total": total, "percent": round(100 * covered / total, 1) if total else 100.0}


def percent(report: Mapping[str, Any]) -> float:
    """The report's whole coverage, as `--fail-under` judges it."""
    return float(report["total"]["percent"])


def missed(dimension: Mapping[str, Any]) -> list[str]:
    return [i["name"] for i in dimension["items"] if not i["count"]]


def text(report: Mapping[str, Any], *, missing: bool = False) -> str:
    """The terminal form (`term`; `term-missing` adds what was never exercised), as pytest-cov prints."""
    lines = ["portkey contract coverage" + (f" (namespace {report['namespace']})" if report.get("namespace") else "")]
    for operation in report["operations"]:
        lines.append(f"{operation['operation']}")
        lines.append(f"  {'dimension':<14}{'covered':>9}{'total':>7}{'cover':>8}" + ("   missed" if missing else ""))
        for dimension in operation["dimensions"]:
            d = dimension
            row = f"  {d['dimension']:<14}{d['covered']:>9}{d['total']:>7}{d['percent']:>7.1f}%"
            if missing and missed(dimension):
                row += "   " + ", ".join(missed(dimension))
            lines.append(row)
    total = report["total"]
    lines.append(f"  {'TOTAL':<14}{total['covered']:>9}{total['total']:>7}{total['percent']:>7.1f}%")
    return "\n".join(lines) + "\n"


def markdown(report: Mapping[str, Any]) -> str:
    """A job summary for CI (GitHub's `$GITHUB_STEP_SUMMARY` and the like)."""
    total = report["total"]
    out = [f"## Contract coverage: {total['percent']:.1f}% ({total['covered']} of {total['total']} items)", ""]
    for operation in report["operations"]:
        out += [
            f"### `{operation['operation']}`",
            "",
            "| dimension | covered | total | cover | missed |",
            "|---|---:|---:|---:|---|",
        ]
        for dimension in operation["dimensions"]:
            gone = ", ".join(f"`{m}`" for m in missed(dimension)) or "none"
            d = dimension
            out.append(f"| {d['dimension']} | {d['covered']} | {d['total']} | {d['percent']:.1f}% | {gone} |")
        out.append("")
    return "\n".join(out)


def page(report: Mapping[str, Any], spec_href: str = "") -> str:
    """One self-contained HTML page (no CDN, fonts or scripts): a table per dimension, missed first.

    Each item links to its place in the spec: `spec_href` followed by the item's JSON pointer.
    """
    total = report["total"]
    body = [
        f"<h1>Contract coverage: {total['percent']:.1f}%</h1>",
        f"<p>{total['covered']} of {total['total']} items exercised.</p>",
    ]
    for operation in report["operations"]:
        body.append(f"<h2>{html.escape(operation['operation'])}</h2>")
        for dimension in operation["dimensions"]:
            body.append(
                f"<h3 id='{html.escape(dimension['dimension'])}'>{html.escape(dimension['dimension'])}: "
                f"{dimension['covered']} of {dimension['total']} ({dimension['percent']:.1f}%)</h3>"
            )
            rows = sorted(dimension["items"], key=lambda i: bool(i["count"]))
            body.append("<table><tr><th>item</th><th>requests</th><th>in the spec</th></tr>")
            for item in rows:
                where = html.escape(item["pointer"])
                link = (
                    f"<a href='{html.escape(spec_href)}{where}'>{where}</a>"
                    if item["pointer"]
                    else "(the server's own)"
                )
                state = "missed" if not item["count"] else "covered"
                name = html.escape(item["name"])
                body.append(f"<tr class='{state}'><td>{name}</td><td>{item['count']}</td><td>{link}</td></tr>")
            body.append("</table>")
    return _PAGE.replace("{body}", "\n".join(body))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contract coverage</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; min-width: 40em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; }
tr.missed td:first-child { color: #b00020; font-weight: 600; }
tr.missed td:first-child::before { content: "\\2717  "; }
tr.covered td:first-child::before { content: "\\2713  "; color: #0a7d32; }
</style></head><body>
{body}
</body></html>
"""


def rendered(report: Mapping[str, Any], form: str) -> str:
    """The report in one of FORMS."""
    if form == "json":
        return json.dumps(report, indent=2) + "\n"
    if form == "markdown":
        return markdown(report)
    if form == "html":
        return page(report)
    return text(report, missing=form == "term-missing")
