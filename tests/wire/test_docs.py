"""Every Python example in README.md and docs/ runs, as written, against the stub server on loopback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from support import BASE, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALL_BLOCKS = [
    (page.relative_to(ROOT), i, block)
    for page in PAGES
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S), 1)
]
# A block with a test function is a pytest file; the others are scripts run against the server.
TESTS = [b for b in ALL_BLOCKS if "def test_" in b[2]]
BLOCKS = [b for b in ALL_BLOCKS if "def test_" not in b[2]]
DOCS_URL = "http://127.0.0.1:8787"

pytestmark = pytest.mark.wire


def test_the_docs_have_a_client_example_per_auth_alternative():
    client_examples = [code for _, _, code in BLOCKS if "portkey_completions.client" in code]
    for marker in ("virtual_key=", "authorization=", "config=", "custom_host="):
        assert any(marker in code for code in client_examples), marker


@pytest.mark.parametrize(("page", "index", "code"), BLOCKS, ids=[f"{p}#{i}" for p, i, _ in BLOCKS])
def test_example_runs(server, capsys, page, index, code):
    assert DOCS_URL in code, "an example must talk to the documented local server"
    # The docs show the published base path (/v1); the examples run against the spec's own.
    code = code.replace(f"{DOCS_URL}/v1", f"{server}{BASE}").replace("/v1/completions", f"{BASE}/completions")
    code = code.replace(DOCS_URL, server)
    exec(compile(code, f"{page} example {index}", "exec"), {"__name__": "docs"})
    assert capsys.readouterr().out.strip(), "an example shows its result"


@pytest.mark.parametrize(("page", "index", "code"), TESTS, ids=[f"{p}#{i}" for p, i, _ in TESTS])
def test_contract_test_example_passes_as_written(tmp_path, page, index, code):
    """Written only from the docs: the file runs under pytest with nothing but the installed plugin."""
    path = tmp_path / "test_example.py"
    path.write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout) and "failed" not in result.stdout
    assert len(code.strip().splitlines()) <= 20


def test_readme_is_the_front_door():
    """About 150 lines; the rest lives in docs/ (one page per concept), linked from it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README does not link {page.name}"
