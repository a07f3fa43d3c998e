"""`--portkey-coverage`: what a test session exercised of the contract, reported at its end as pytest-cov does.

    pytest --portkey-coverage                     # term: a line per dimension
    pytest --portkey-coverage=term-missing        # and the items never exercised, by name
    pytest --portkey-coverage=json:coverage.json --portkey-coverage=html:coverage-html
    pytest --portkey-coverage=markdown:$GITHUB_STEP_SUMMARY --portkey-coverage-fail-under=80

The counts are the session's `portkey_stub` servers' (`GET /__admin/coverage`), read before
they stop. Under pytest-xdist each worker sends its servers' report to the controller, which
merges them into one (`coverage_report.merge`): the same report as a serial run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portkey_completions.control import coverage_report

REPORTS = pytest.StashKey[list[dict[str, Any]]]()
_WORKER_OUTPUT = "portkey_coverage"  # xdist's workeroutput key
_FORMS = ("term", "term-missing", "json", "html", "markdown")


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portkey-stub", "portkey_stub fixture")
    group.addoption(
        "--portkey-coverage",
        action="append",
        nargs="?",
        const="term",
        default=[],
        metavar="FORM",
        help="report contract coverage of the portkey_stub servers: term, term-missing, json:PATH, "
        "html:DIR or markdown:PATH (repeatable; alone: term)",
    )
    group.addoption(
        "--portkey-coverage-fail-under",
        type=float,
        default=None,
        metavar="MIN",
        help="fail the session if contract coverage is below MIN percent",
    )


def forms(config: pytest.Config) -> list[tuple[str, str | None]]:
    """The reports asked for, as (form, path); a UsageError for a form that is not one."""
    asked = list(config.getoption("portkey_coverage") or [])
    if config.getoption("portkey_coverage_fail_under") is not None and not asked:
        asked = ["term"]
    found = []
    for given in asked:
        form, _, path = given.partition(":")
        if form not in _FORMS:
            raise pytest.UsageError(f"--portkey-coverage={given}: the form is one of {', '.join(_FORMS)}")
        if form in ("json", "html", "markdown") and not path:
            raise pytest.UsageError(f"--portkey-coverage={given}: {form} needs a path ({form}:PATH)")
        if form in ("term", "term-missing") and path:
            raise pytest.UsageError(f"--portkey-coverage={given}: {form} prints to the terminal and takes no path")
        found.append((form, path or None))
    return found


class CoveragePlugin:
    """Registered when `--portkey-coverage` (or its fail-under) is given."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.forms = forms(config)
        self.fail_under: float | None = config.getoption("portkey_coverage_fail_under")
        self.report: dict[str, Any] | None = None
        config.stash[REPORTS] = []

    @pytest.hookimpl(optionalhook=True)  # pytest-xdist's
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """On xdist's controller: a worker's report, merged at the session's end."""
        sent = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if sent:
            self.config.stash[REPORTS].append(json.loads(sent))

    @pytest.hookimpl(tryfirst=True)  # before xdist sends a worker's output
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        reports = self.config.stash[REPORTS]
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller reports
            if reports:
                self.config.workeroutput[_WORKER_OUTPUT] = json.dumps(coverage_report.merge(reports))  # type: ignore[attr-defined]
            return
        if not reports:
            return
        self.report = coverage_report.merge(reports)
        for form, path in self.forms:
            if path is not None:
                target = Path(path) / "index.html" if form == "html" else Path(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(coverage_report.rendered(self.report, form), encoding="utf-8")
        if self.fail_under is not None and coverage_report.percent(self.report) < self.fail_under:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        if self.report is None:
            terminalreporter.write_sep("-", "portkey contract coverage: no portkey_stub server ran")
            return
        terminalreporter.write_sep("-", "portkey contract coverage")
        for form, path in self.forms:
            if path is None:
                terminalreporter.write(coverage_report.text(self.report, missing=form == "term-missing"))
            else:
                terminalreporter.write_line(f"{form} report written to {path}")
        if self.fail_under is not None:
            total = coverage_report.percent(self.report)
            verdict = "FAIL" if total < self.fail_under else "passed"
            terminalreporter.write_line(
                f"{verdict}: required contract coverage of {self.fail_under:g}% "
                f"{'not ' if verdict == 'FAIL' else ''}reached. Total coverage: {total:.1f}%",
                red=verdict == "FAIL",
            )
