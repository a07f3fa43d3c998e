"""`portkey-stub coverage` and `portkey-stub spec-diff`: the commands that judge rather than serve.

`coverage` prints a server's contract coverage or a saved report's (`control.coverage_report`);
`spec-diff` what a spec update changes for clients (`core.spec_diff`). Each exits 1 when what it
reports fails the bar given (`--fail-under`, `--fail-on`), and 2 on a usage mistake, in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def coverage_parser(commands: argparse._SubParsersAction[Any]) -> None:
    coverage = commands.add_parser(
        "coverage",
        help="report a server's contract coverage, or a saved report's",
        description="Print what requests exercised of the spec: a running server's counts (its "
        "/__admin/coverage; a namespace's with --url http://HOST:PORT/ns/NAME), or a report saved by "
        "--portkey-coverage=json:FILE. Exits 1 below --fail-under.",
    )
    coverage.set_defaults(subparser=coverage)
    source = coverage.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running server's root, e.g. http://127.0.0.1:8787")
    source.add_argument("--from", dest="from_file", metavar="FILE", help="a saved JSON report")
    coverage.add_argument(
        "--report",
        action="append",
        metavar="FORM",
        help="term (the default), term-missing, json:PATH, html:DIR or markdown:PATH; repeatable",
    )
    coverage.add_argument("--fail-under", type=float, metavar="MIN", help="exit 1 if coverage is below MIN percent")
    coverage.add_argument(
        "--admin-token",
        default=os.environ.get("PORTKEY_STUB_ADMIN_TOKEN"),
        help="the server's admin token, for a caller that is not on loopback (env: PORTKEY_STUB_ADMIN_TOKEN)",
    )


def coverage(args: argparse.Namespace) -> int:
    """`portkey-stub coverage`: the report in the forms asked, and whether it reaches --fail-under."""
    from pathlib import Path

    from portkey_completions.control import coverage_report

    parser: argparse.ArgumentParser = args.subparser
    forms = []
    for given in args.report or ["term"]:
        form, _, path = given.partition(":")
        if form not in coverage_report.FORMS or (form.startswith("term") == bool(path)):
            parser.error(f"--report {given}: give term, term-missing, json:PATH, html:DIR or markdown:PATH")
        forms.append((form, path))
    try:
        report = _coverage_report(args)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    for form, path in forms:
        out = coverage_report.rendered(report, form)
        if not path:
            sys.stdout.write(out)
            continue
        target = Path(path) / "index.html" if form == "html" else Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(out, encoding="utf-8")
    total = coverage_report.percent(report)
    if args.fail_under is not None and total < args.fail_under:
        print(f"portkey-stub: coverage {total:.1f}% is below --fail-under {args.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


def _coverage_report(args: argparse.Namespace) -> dict[str, object]:
    import json

    if args.from_file is not None:
        with open(args.from_file, encoding="utf-8") as saved:
            report: dict[str, object] = json.load(saved)
    else:
        import httpx

        headers = {"x-admin-token": args.admin_token} if args.admin_token else {}
        try:
            answer = httpx.get(args.url.rstrip("/") + "/__admin/coverage", headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise ValueError(f"--url {args.url}: {exc}") from None
        if answer.status_code != 200:
            raise ValueError(f"--url {args.url}: /__admin/coverage answered {answer.status_code}: {answer.text[:200]}")
        report = answer.json()
    if not isinstance(report, dict) or report.get("schema_version") != 1:
        raise ValueError("not a contract coverage report of schema version 1")
    return report


def spec_diff_parser(commands: argparse._SubParsersAction[Any]) -> None:
    changes = commands.add_parser(
        "spec-diff",
        help="what a spec update changes for clients, over the served operations",
        description="Compare two OpenAPI files over the served operations (overrides/operations.yaml, or "
        "--served), following $refs: a line per change, with its level (breaking, warning, info), oasdiff's "
        "check id, the operation, where (a JSON pointer) and what. Exits 1 when a change at --fail-on or "
        "worse is found.",
    )
    changes.set_defaults(subparser=changes)
    changes.add_argument("old", metavar="OLD", help="the spec as it was (e.g. openapi/portkey-completions.yaml)")
    changes.add_argument("new", metavar="NEW", help="the spec as published now")
    changes.add_argument(
        "--served",
        metavar="FILE",
        help="the operations compared (default: overrides/operations.yaml if it is here, else every operation of OLD)",
    )
    changes.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="the report's form")
    changes.add_argument("--fail-on", choices=("breaking", "warning"), help="exit 1 on a change of this level or worse")


def spec_diff(args: argparse.Namespace) -> int:
    """`portkey-stub spec-diff`: the report, and whether it holds a change at --fail-on."""
    from portkey_completions.core import formats
    from portkey_completions.core import spec_diff as diffing

    parser: argparse.ArgumentParser = args.subparser
    documents = []
    for given in (args.old, args.new):
        try:
            with open(given, "rb") as file:
                document = formats.yaml_data(file.read(), given)
        except OSError as exc:
            parser.error(f"{given}: {exc.strerror}")
        except ValueError as exc:
            parser.error(str(exc))
        if not isinstance(document, dict) or "paths" not in document:
            parser.error(f"{given}: not an OpenAPI document (no paths)")
        documents.append(document)
    served = _served(parser, args.served) or diffing.operations(documents[0])
    report = diffing.diff(documents[0], documents[1], served)
    sys.stdout.write(diffing.rendered(report, args.format))
    return 1 if report.fails(args.fail_on) else 0


def _served(parser: argparse.ArgumentParser, given: str | None) -> list[str]:
    """The served operations' list (`post /completions` a line), or [] where there is none to read."""
    import yaml

    path = given or ("overrides/operations.yaml" if os.path.exists("overrides/operations.yaml") else None)
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as file:
            listed = (yaml.safe_load(file) or {}).get("served") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        parser.error(f"--served {path}: {exc}".splitlines()[0])
    from portkey_completions.core.spec_diff import named

    return [named(entry) for entry in listed]
