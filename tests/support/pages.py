"""A docs page's fenced snippets and shell commands, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path


def snippets(page: Path, language: str) -> list[str]:
    """The page's ```language blocks, in order."""
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def commands(page: Path, prefix: str) -> list[str]:
    """The page's shell commands that start with `prefix`: a continued line joined, a comment dropped."""
    lines = "\n".join(snippets(page, "sh")).replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines if line.startswith(prefix)]
