"""The bounded slice of `make robustness` that CI runs: every row of its quick table must hold.

scripts/robustness.py measures against real servers on loopback: hostile input by category,
upstream faults through the gateway, SIGTERM during streams, a 5,000-request soak (RSS, fds,
tasks) and planted secrets. The full run (`make robustness`) is the same with larger counts.
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
    assert sections == {"hostile", "faults", "soak", "secrets"}, table
    assert len(rows) >= 25 and not [line for line in rows if "  NO  " in line], table
