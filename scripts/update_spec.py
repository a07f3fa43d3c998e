"""`make update-spec SPEC=FILE`: take a newly published spec into openapi/, and pin it beside it.

Portkey publishes one file for its whole API. The operations this project serves are listed in
overrides/operations.yaml; the file's other operations are cut, and what is kept is those
operations (with their path's parameters and servers), every component they reference,
transitively, and the top level (openapi, info, servers, security, and the tags in use). The cut
is written deterministically: the same file gives the same bytes. A file that holds only the
served operations already is taken byte for byte.

A 3.1 file's cut is converted to OpenAPI 3.0 (`down_convert`: connexion reads 3.0), each change
said on stderr, and the pin records the published version and the conversion; a construct with no
3.0 equivalent is refused in one line naming its JSON path. The file is read as YAML reads it: a
redefined anchor is the latest definition (`core.formats.yaml_data`).

Before anything is written, what would be taken is checked as connexion checks a spec
(`portkey_completions.server.spec_check`): a spec it would refuse is refused here, a line per
problem naming where, and openapi/ is left as it was, pin included.

The pin (openapi/portkey-completions.lock) records the taken file's SHA-256, the published
file's, where it came from and when; `tests/unit/test_overlay.py` fails when the spec and its pin
disagree (an edit by hand). Then `make gen` regenerates from it.

Before anything is written, the update's changes for clients are printed (`portkey-stub
spec-diff`'s report: a line per change, with its level); `--fail-on breaking` (make's
FAIL_ON=breaking) takes nothing and exits 1 when one is that bad, for a CI job that watches
Portkey's file.

    python scripts/update_spec.py FILE [--source WHERE] [--fail-on breaking|warning]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from pathlib import Path
from typing import Any

import down_convert
import yaml
from apply_overlay import effective, operation

from portkey_completions.core import formats, spec_diff
from portkey_completions.server.spec_check import problems

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "portkey-completions.yaml"
LOCK = SPEC.with_suffix(".lock")
OPERATIONS = ROOT / "overrides" / "operations.yaml"
OVERLAY = ROOT / "overrides" / "overlay.yaml"
HEADER = "# The pin of portkey-completions.yaml, written by `make update-spec`: never edit either by hand.\n"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TOP = ("openapi", "info", "servers", "security", "tags")


def served() -> list[tuple[str, str]]:
    """The (method, path) pairs of overrides/operations.yaml."""
    return [operation(entry) for entry in yaml.safe_load(OPERATIONS.read_text(encoding="utf-8"))["served"]]


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, p) for p, item in (document.get("paths") or {}).items() for m in item if m in METHODS}


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def cut(document: dict[str, Any], keep: list[tuple[str, str]]) -> dict[str, Any]:
    """The served operations of `document`, every component they reference, and its top level."""
    paths: dict[str, Any] = {}
    missing = [f"{m} {p}" for m, p in keep if m not in (document.get("paths") or {}).get(p, {})]
    if missing:
        raise ValueError(f"not in the published spec: {', '.join(missing)} (overrides/operations.yaml)")
    for path, item in document["paths"].items():  # the published order, not the list's
        methods = [m for m in item if m in METHODS and (m, path) in keep]
        if methods:
            paths[path] = {k: v for k, v in item.items() if k not in METHODS or k in methods}
    taken = {key: document[key] for key in TOP if key in document}
    taken["paths"] = paths
    # Components, transitively: what the operations and the security requirements name.
    schemes = {name for req in taken.get("security") or [] for name in req}
    for item in paths.values():
        for method in METHODS:
            for req in (item.get(method) or {}).get("security") or []:
                schemes.update(req)
    components = document.get("components") or {}
    wanted = {f"#/components/securitySchemes/{name}" for name in schemes}
    _refs(paths, wanted)
    seen: set[str] = set()
    while wanted - seen:
        ref = sorted(wanted - seen)[0]
        seen.add(ref)
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        target = components.get(kind, {}).get(name.replace("~1", "/").replace("~0", "~"))
        if target is None:
            raise ValueError(f"{ref}: referenced, but not in the published spec's components")
        _refs(target, wanted)
    kept: dict[str, Any] = {}
    for kind, entries in components.items():  # the published order
        for name, value in entries.items():
            if f"#/components/{kind}/{name.replace('~', '~0').replace('/', '~1')}" in seen:
                kept.setdefault(kind, {})[name] = value
    if kept:
        taken["components"] = kept
    if "tags" in taken:
        used = {t for item in paths.values() for m in METHODS for t in (item.get(m) or {}).get("tags") or []}
        taken["tags"] = [tag for tag in taken["tags"] if tag.get("name") in used]
    return taken


def pin(raw: bytes, published: bytes, source: str, version: str) -> dict[str, str]:
    converted = {"converted": f"from OpenAPI {version} to {down_convert.TARGET} (scripts/down_convert.py)"}
    return {
        "file": SPEC.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "source": source,
        "source_sha256": hashlib.sha256(published).hexdigest(),
        "source_openapi": version,
        **(converted if version.startswith("3.1") else {}),
        "operations": ", ".join(f"{m} {p}" for m, p in served()),
        "published_operations": spec_diff.operations(formats.yaml_data(published, "the published file")),
        "taken": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def changes(document: dict[str, Any], taken: dict[str, Any]) -> spec_diff.Report:
    """What taking `document` (cut to `taken`) changes for clients, against the spec in openapi/.

    Both sides are compared as served: with overrides/overlay.yaml applied (`core.spec_diff`). The
    operations new since the last pin are those the pinned published file did not have (the pin
    lists them; an older pin of a file taken byte for byte has them in the spec itself). An older
    pin of a cut file names none, and counts them only.
    """
    keep = [f"{m} {p}" for m, p in served()]
    published = spec_diff.operations(document)
    if not SPEC.exists():
        return spec_diff.Report(not_served=[o for o in published if o not in keep])
    old = formats.yaml_data(SPEC.read_bytes(), str(SPEC))
    pinned = (yaml.safe_load(LOCK.read_text(encoding="utf-8")) if LOCK.exists() else None) or {}
    known = pinned.get("published_operations")
    if known is None and pinned.get("source_sha256", pinned.get("sha256")) == pinned.get("sha256"):
        known = spec_diff.operations(old)  # taken byte for byte: the published file had these, and only these
    overlay = yaml.safe_load(OVERLAY.read_text(encoding="utf-8")) if OVERLAY.exists() else {"actions": []}
    report = spec_diff.diff(effective(old, overlay), effective(taken, overlay), keep, published)
    report.not_served = [o for o in published if o not in keep]
    report.new_operations = [o for o in report.not_served if known is not None and o not in known]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the published spec (OpenAPI 3.0 or 3.1, YAML or JSON), as published")
    parser.add_argument("--source", help="where it was published (a URL); default: the file's path")
    parser.add_argument(
        "--fail-on",
        choices=("breaking", "warning"),
        help="take nothing, and exit 1, when the update has a change of this level or worse",
    )
    args = parser.parse_args(argv)
    try:
        published = args.file.read_bytes()
    except OSError as exc:
        parser.error(f"{args.file}: {exc.strerror}")
    try:
        document = formats.yaml_data(published, str(args.file))
    except ValueError as exc:
        parser.error(f"not YAML or JSON: {exc}")
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        parser.error(f"{args.file} is not an OpenAPI 3 document (no `openapi: 3.x`)")
    keep = served()
    if operations(document) <= set(keep) and not down_convert.is_31(document):
        raw, taken = published, document  # only what is served: taken byte for byte
    else:
        try:
            taken = cut(document, keep)
            if down_convert.is_31(document):  # connexion reads 3.0: the cut, converted, each change said
                taken, said = down_convert.convert(taken)
                print(*(f"3.1 -> 3.0: {line}" for line in said), sep="\n", file=sys.stderr)
        except ValueError as exc:  # not in the file, or no 3.0 equivalent: one line, nothing taken
            print(f"{args.file}: {exc}; nothing was taken.", file=sys.stderr)
            return 2
        raw = yaml.safe_dump(taken, sort_keys=False, allow_unicode=True, width=120).encode()
    found = problems(taken)
    if found:
        lines = "\n".join(f"  {p}" for p in found)
        print(f"{args.file} is not valid OpenAPI 3.0; nothing was taken:\n{lines}", file=sys.stderr)
        return 2
    report = changes(document, taken)
    sys.stdout.write(spec_diff.rendered(report))
    if report.fails(args.fail_on):
        print(f"A {args.fail_on} change or worse (--fail-on {args.fail_on}): nothing was taken.", file=sys.stderr)
        return 1
    SPEC.write_bytes(raw)
    source = args.source or str(args.file)
    pinned = pin(raw, published, source, str(document["openapi"]))
    LOCK.write_text(HEADER + yaml.safe_dump(pinned, sort_keys=False), encoding="utf-8")
    what = "taken" if raw is published else f"cut to {', '.join(f'{m} {p}' for m, p in keep)}"
    print(f"openapi/{SPEC.name} {what} from {source}; pinned in openapi/{LOCK.name}. Now run `make gen`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
