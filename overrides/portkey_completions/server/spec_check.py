"""Is a spec valid OpenAPI 3.0, as connexion judges it? Said in a few lines, each naming where.

The same validator connexion runs at start-up (its OpenAPI 3.0 schema, with defaults checked
against their schemas), run first by `make update-spec` (before anything is written), by `make gen`
and by `serve`, so that a broken spec is refused in words a user can act on, never by a dump of
the whole request schema.

    python -m portkey_completions.server.spec_check SPEC.yaml   # exit 2 and the problems if invalid
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from connexion.spec import OpenAPISpecification, create_spec_validator
from jsonschema.exceptions import ValidationError

from portkey_completions.core import formats

MAX_LINES = 5


class InvalidSpec(ValueError):
    """A spec connexion would refuse; `problems` are lines of `where: what`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the spec is not valid OpenAPI 3.0:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def where(path: Iterable[Any]) -> str:
    """A JSON path as the error names it: components.schemas.X.properties.prompt.oneOf[5]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the document)"


def _deepest(error: ValidationError) -> ValidationError:
    """Of a oneOf's alternatives, the one that came furthest: its error says what is wrong."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.context or ())))
    return error


def problems(document: Mapping[str, Any]) -> list[str]:
    """What connexion's validator finds wrong with the document, a line each (at most MAX_LINES)."""
    if not isinstance(document, Mapping) or not str(document.get("openapi", "")).startswith("3.0"):
        return ["openapi: not an OpenAPI 3.0 document (no `openapi: 3.0.x`)"]
    validator = create_spec_validator(dict(document))(OpenAPISpecification.openapi_schema)
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        leaf = _deepest(error)
        line = f"{where(leaf.absolute_path)}: {leaf.message}"
        if line not in found:
            found.append(line)
    if len(found) > MAX_LINES:
        found = [*found[:MAX_LINES], f"… and {len(found) - MAX_LINES} more"]
    return found


def check(document: Mapping[str, Any]) -> None:
    """Raise InvalidSpec naming each problem; nothing when connexion would take the document."""
    found = problems(document)
    if found:
        raise InvalidSpec(found)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m portkey_completions.server.spec_check SPEC.yaml", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        found = problems(formats.yaml_data(path.read_bytes(), str(path)))
    except ValueError as exc:  # not YAML: the one line that says where
        found = [str(exc)]
    if found:
        print(f"{path} is not valid OpenAPI 3.0:", *(f"  {p}" for p in found), sep="\n", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
