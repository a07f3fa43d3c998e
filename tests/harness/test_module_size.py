"""Hand-written modules stay under 400 lines; one that must be longer says why in its first line (CONTRIBUTING.md)."""

from __future__ import annotations

from pathlib import Path

from support import ROOT

LIMIT = 400
REASON = "# Over 400 lines: "  # the first line of a module that must be longer, followed by why
HAND_WRITTEN = ("overrides", "scripts", "tests")


def too_long(root: Path) -> list[str]:
    """The Python modules under `root` over LIMIT lines whose first line does not say why."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LIMIT and not (lines[0].startswith(REASON) and len(lines[0]) > len(REASON) + 10):
            found.append(f"{path.relative_to(root)} ({len(lines)} lines)")
    return found


def test_no_hand_written_module_passes_400_lines_without_saying_why():
    found = [m for folder in HAND_WRITTEN for m in too_long(ROOT / folder)]
    assert not found, f"split these, or start them with {REASON!r} and the reason: {', '.join(found)}"


def test_the_check_bites(tmp_path):
    body = "\n".join(f"x{i} = {i}" for i in range(LIMIT + 1)) + "\n"
    (tmp_path / "long.py").write_text(body, encoding="utf-8")
    (tmp_path / "short.py").write_text("x = 1\n" * LIMIT, encoding="utf-8")
    (tmp_path / "said.py").write_text(f"{REASON}one table, read top to bottom.\n{body}", encoding="utf-8")
    (tmp_path / "empty_reason.py").write_text(f"{REASON}\n{body}", encoding="utf-8")
    assert too_long(tmp_path) == [f"empty_reason.py ({LIMIT + 2} lines)", f"long.py ({LIMIT + 1} lines)"]


def test_no_import_circle_between_modules():
    """A module that needs another only lazily to dodge a circle is a module in the wrong place (grimp)."""
    import grimp

    graph = grimp.build_graph("portkey_completions")
    modules = sorted(graph.modules)
    circles = []
    for i, a in enumerate(modules):
        for b in modules[i + 1 :]:
            if graph.chain_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a):
                circles.append(f"{a} <-> {b}")
    assert not circles, "import circles: " + ", ".join(circles)


def test_make_lint_bounds_each_library_function_to_60_lines(tmp_path):
    """`scripts/function_length.py` (run by `make lint`) passes the library and names a function one line too long."""
    import subprocess
    import sys

    script = ROOT / "scripts" / "function_length.py"
    assert subprocess.run([sys.executable, str(script), str(ROOT / "overrides")], check=False).returncode == 0
    body = "".join(f"    x{i} = {i}\n" for i in range(59))
    (tmp_path / "fits.py").write_text(f"def fits():\n{body}", encoding="utf-8")  # 60 lines
    (tmp_path / "over.py").write_text(f"async def over():\n{body}    return 1\n", encoding="utf-8")  # 61
    found = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=False)
    assert found.returncode == 1
    assert found.stderr.strip() == f"{tmp_path / 'over.py'}:1 over (61 lines, at most 60)"
