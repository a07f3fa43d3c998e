"""The bounded slice of `make robustness` that CI runs: every row of its quick table must hold.

scripts/robustness.py measures against real servers on loopback: hostile input by category,
upstream faults through the gateway and a 5,000-request soak (RSS, fds, tasks); SIGTERM during
streams and planted secrets are the suite's own tests (tests/wire), which the full run
(`make robustness`, larger counts) repeats five times.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT

SCRIPT = ROOT / "scripts" / "robustness.py"

pytestmark = pytest.mark.wire


def test_the_quick_robustness_table_holds_in_every_row():
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300)
    table = result.stdout
    assert result.returncode == 0, table + result.stderr[-3000:]
    rows = [line for line in table.splitlines()[2:] if line.strip()]
    sections = {line.split()[0] for line in rows}
    # The checks the tests own (SIGTERM during streams, planted secrets) are the suite's own tests here.
    assert sections == {"hostile", "faults", "soak"}, table
    assert len(rows) >= 22 and not [line for line in rows if "  NO  " in line], table
