"""generated/ is exactly what `make gen` writes, and the rooms keep their import rule (import-linter)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_generated_has_not_drifted():
    result = subprocess.run(["scripts/gen-check.sh"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def lint_imports(package_root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with pyproject's contracts, over the package found first at `package_root`."""
    path = os.pathsep.join([str(package_root), str(ROOT / "generated")])
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-logo", "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, env={**ENV, "PYTHONPATH": path}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_rooms_keep_their_import_rule():
    result = lint_imports(ROOT / "overrides")
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # A call down the rooms calling back up: each one breaks the layers contract.
        ("gateway/leaf.py", "from portkey_completions.server import errors", "gateway is not allowed to import"),
        ("control/front.py", "from portkey_completions.server import door", "control is not allowed to import"),
        ("stub/answer.py", "from portkey_completions.gateway import config", "stub is not allowed to import"),
        ("call/record.py", "from portkey_completions.stub import plan", "call is not allowed to import"),
        ("observe/metrics.py", "from portkey_completions.call import record", "observe is not allowed to import"),
        ("gateway/runner.py", "import connexion.exceptions", "Below the HTTP edge nothing knows connexion"),
        # Spelled the ways a string match would miss.
        ("client/params.py", "import portkey_completions.server.errors as e", "client is not allowed to import"),
        ("engine/sampler.py", "from portkey_completions import client", "engine is not allowed to import"),
        ("engine/lm.py", "import starlette", "The engine imports nothing from HTTP"),
    ],
)
def test_an_import_against_the_rule_fails_lint(tmp_path, module, line, broken):
    copy = tmp_path / "portkey_completions"
    shutil.copytree(ROOT / "overrides" / "portkey_completions", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout[-4000:]
    assert broken in result.stdout.replace("portkey_completions.", "").replace("\n", " "), result.stdout[-4000:]
