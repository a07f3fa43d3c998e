"""The typed client from the effective spec: openapi-python-client on the client's input, with named fixes.

openapi-python-client cannot model every valid schema. Where it cannot, this script either
applies a named fix to the client's input only (the server and the effective spec read the spec
as it is), or stops `make gen` with one line naming the schema and what to do. The fixes, each
said on stderr and listed in docs/spec-and-gen.md:

- **shared titles** (`unshared_titles`): component schemas that share a title lose it;
- **unmodelled union branch**: a branch of a component property's `oneOf`/`anyOf` the generator
  cannot model (an enum of mixed types, a default its type refuses, …) is left out of that union,
  found by generating each branch alone; a branch that allowed null leaves the property nullable.

    python scripts/client_gen.py EFFECTIVE OUTPUT_DIR CONFIG
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from unshared_titles import unshared

UNION = ("oneOf", "anyOf")
_UNABLE = re.compile(r"Unable to (?:process|parse) schema /components/schemas/([^\s:]+):\s*\n\s*(.+)")


def generate(spec: dict[str, Any], output: Path, config: Path) -> str | None:
    """Run openapi-python-client on `spec` into `output`; None on success, else what it said."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "client-input.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
        run = subprocess.run(
            ["openapi-python-client", "generate", "--path", str(path), "--meta", "none", "--output-path",
             str(output), "--config", str(config), "--fail-on-warning", "--overwrite"],
            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
    return None if run.returncode == 0 else run.stdout + run.stderr


def unmodelled(said: str) -> list[tuple[str, str]]:
    """The component schemas the generator could not model, each with its reason."""
    return [(m[1], m[2].strip()) for m in _UNABLE.finditer(said)]


def _allows_null(branch: Any) -> bool:
    if not isinstance(branch, dict):
        return False
    kind = branch.get("type")
    return branch.get("nullable") is True or kind == "null" or None in (branch.get("enum") or [])


def fix_unions(spec: dict[str, Any], name: str, config: Path) -> list[str]:
    """Leave out of schema `name`'s unions each branch the generator cannot model alone; what was done."""
    schema = spec["components"]["schemas"][name]
    done = []
    for prop, value in (schema.get("properties") or {}).items():
        for key in UNION:
            branches = value.get(key) if isinstance(value, dict) else None
            if not isinstance(branches, list):
                continue
            bad = [i for i, branch in enumerate(branches) if not _models(spec, branch, config)]
            if not bad or len(bad) == len(branches):
                continue
            value[key] = [b for i, b in enumerate(branches) if i not in bad]
            if any(_allows_null(branches[i]) for i in bad):
                value["nullable"] = True
            where = f"components.schemas.{name}.properties.{prop}.{key}[{', '.join(map(str, bad))}]"
            kept = " (the property stays nullable)" if value.get("nullable") else ""
            done.append(f"{where}: not modelled by openapi-python-client, left out of the client's union{kept}")
    return done


def _models(spec: dict[str, Any], branch: Any, config: Path) -> bool:
    """Whether the generator models `branch` as a component schema of its own (the others beside it)."""
    probe = copy.deepcopy(spec)
    probe["components"]["schemas"]["ClientGenProbe"] = copy.deepcopy(branch)
    with tempfile.TemporaryDirectory() as tmp:
        said = generate(probe, Path(tmp) / "out", config)
    return said is None or "ClientGenProbe" not in said


def main(effective: str, output: str, config: str) -> int:
    spec = yaml.safe_load(Path(effective).read_text(encoding="utf-8"))
    for title, names in unshared(spec):
        print(f"client: {', '.join(names)} share the title {title!r}: named by their component names", file=sys.stderr)
    said = generate(spec, Path(output), Path(config))
    if said is not None:
        for name, _ in unmodelled(said):
            for line in fix_unions(spec, name, Path(config)):
                print(f"client: {line}", file=sys.stderr)
        said = generate(spec, Path(output), Path(config))
    if said is None:
        return 0
    found = unmodelled(said)
    for name, reason in found:
        print(f"make gen: openapi-python-client cannot model components.schemas.{name} ({reason.split(' <')[0]}); "
              "no named fix applies: give it a form the generator models in overrides/overlay.yaml, or see "
              "docs/spec-and-gen.md", file=sys.stderr)  # fmt: skip
    if not found:
        print(f"make gen: openapi-python-client failed: {said.strip().splitlines()[-1]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
