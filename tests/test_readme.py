"""Every Python example in the README runs, as written, against the stub server on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ALL_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
# A block with a test function is a pytest file; the others are scripts run against the server.
TESTS = [b for b in ALL_BLOCKS if "def test_" in b]
BLOCKS = [b for b in ALL_BLOCKS if "def test_" not in b]
README_URL = "http://127.0.0.1:8787"

pytestmark = pytest.mark.wire


def test_the_readme_has_an_example_per_auth_alternative():
    client_examples = [b for b in BLOCKS if "portkey_completions.client" in b]
    for marker in ("virtual_key=", "authorization=", "config=", "custom_host="):
        assert any(marker in b for b in client_examples), marker


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(server, capsys, index):
    code = BLOCKS[index]
    assert README_URL in code, "an example must talk to the documented local server"
    exec(compile(code.replace(README_URL, server), f"README.md example {index + 1}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip(), "an example shows its result"


def test_the_readme_contract_test_passes_as_written(tmp_path):
    """Written only from the README: the file runs under pytest with nothing but the installed plugin."""
    [code] = TESTS
    path = tmp_path / "test_summary.py"
    path.write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert len(code.strip().splitlines()) <= 20
