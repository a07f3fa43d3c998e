"""The docs name only what exists: every module path, dotted module name and `make` target they cite.

A doc that names `server/plan.py` after the module moved to `stub/plan.py` sends a reader to
nothing. This reads README, ARCHITECTURE, CONTRIBUTING and docs/ for
three kinds of reference, and checks each against the tree, the package and the Makefile.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from support import ROOT

# A copy of the project made for a spec-change test holds no docs: nothing to check there.
pytestmark = pytest.mark.skipif(
    not (ROOT / "ARCHITECTURE.md").exists(), reason="the docs are not in this copy of the project"
)

PACKAGE = ROOT / "overrides" / "portkey_completions"
ROOMS = ("core", "engine", "client", "call", "observe", "stub", "gateway", "control", "server", "testing")
# `overrides/…`, `scripts/…`, `tests/…`, `docs/…`: a path from the project's root.
ROOT_PATH = re.compile(r"`((?:overrides|scripts|tests|docs|openapi|generated|deploy|\.ci)/[\w./-]*\w)`")
# `stub/plan.py`: a module inside the package, by its room.
ROOM_PATH = re.compile(rf"`((?:{'|'.join(ROOMS)})/[\w/]+\.(?:py|yaml|html|json))`")
# `gateway.runner.Reached`: a module of a room, and what it names (`engine.py` is a file name, not this).
DOTTED = re.compile(rf"`((?:{'|'.join(ROOMS)})(?:\.[A-Za-z_]\w*)+)(?<!\.py)(?<!\.yaml)(?<!\.html)(?<!\.json)`")
MAKE = re.compile(r"`make ([a-z][a-z-]*)")


def _docs() -> list[Path]:
    return [ROOT / n for n in ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md")] + sorted(
        (ROOT / "docs").rglob("*.md")
    )


def _resolves(dotted: str) -> bool:
    """Whether `room.module[.name…]` is a module of the package, or a name one of them holds."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module("portkey_completions." + ".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def _targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


def broken(text: str) -> list[str]:
    """The references in `text` that name nothing."""
    found = []
    found += [p for p in ROOT_PATH.findall(text) if not (ROOT / p).exists()]
    found += [p for p in ROOM_PATH.findall(text) if not (PACKAGE / p).exists()]
    found += [d for d in DOTTED.findall(text) if not _resolves(d)]
    targets = _targets()
    found += [f"make {t}" for t in MAKE.findall(text) if t not in targets]
    return found


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_doc_names_only_modules_and_targets_that_exist(doc):
    missing = broken(doc.read_text(encoding="utf-8"))
    assert not missing, f"{doc.relative_to(ROOT)} names what does not exist: {', '.join(sorted(set(missing)))}"


def test_the_check_bites():
    text = "`server/plan.py`, `stub/plan.py`, `scripts/nothing.py`, `call.record.Call`, `call.record.Nope`, `make tset`"
    text += ", `engine.py`, `make test`"
    assert broken(text) == ["scripts/nothing.py", "server/plan.py", "call.record.Nope", "make tset"]


def test_architecture_is_a_map_of_at_most_150_lines():
    """The reasoning and its figures live in docs/design/, one page a decision: the map stays readable."""
    lines = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"ARCHITECTURE.md has {len(lines)} lines: move reasoning to docs/design/"
