"""generated/ is exactly what `make gen` writes from openapi/ + overrides/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_has_not_drifted():
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["scripts/gen-check.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_hand_written_code_never_imports_back_from_overrides():
    generated = ROOT / "generated"
    offenders = [
        str(path.relative_to(ROOT))
        for path in generated.rglob("*.py")
        if "portkey_completions." in path.read_text(encoding="utf-8")
        or "import portkey_completions\n" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
