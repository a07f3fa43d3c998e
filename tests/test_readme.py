"""Every Python example in the README runs, as written, against the stub server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
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
