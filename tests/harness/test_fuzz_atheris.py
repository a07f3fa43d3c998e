"""A bounded slice of `make fuzz`'s coverage-guided half: each atheris target for a few thousand inputs.

The properties live in scripts/fuzz_atheris.py (the SSE decoder and relay split-invariant and
lossless, the config parser raising only ConfigError, the fast and the connexion validator agreeing).
Here they must hold for a short run, and the harness must keep working.
"""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

SCRIPT = ROOT / "scripts" / "fuzz_atheris.py"


def test_every_atheris_target_holds_for_a_bounded_run(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "3000", "--seconds", "30", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"sse", "config", "request"}
    for target, (_, inputs, coverage, _seconds, crashes) in rows.items():
        assert int(inputs.replace(",", "")) >= 3000, target
        assert int(coverage) > 0 and crashes == "0", target
    assert not list(tmp_path.glob("*crash-*"))
