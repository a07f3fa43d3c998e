"""`make lint`: no function of the hand-written library (overrides/) is longer than MAX_LINES.

ruff bounds complexity (C901) and statements (PLR0915) but not length; a long function is the
one a maintainer cannot hold in view. Prints each one over, with where it starts, and exits 1.

    python scripts/function_length.py [DIR ...]   (default: overrides)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 60


def too_long(root: Path) -> list[str]:
    """Each function under `root` longer than MAX_LINES, as `path:line name (lines)`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    found.append(f"{path}:{node.lineno} {node.name} ({lines} lines, at most {MAX_LINES})")
    return found


def main() -> int:
    found = [line for root in sys.argv[1:] or ["overrides"] for line in too_long(Path(root))]
    print("\n".join(found) or f"no function over {MAX_LINES} lines", file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
