"""The spec as openapi-python-client should read it: component schemas that share a title lose it.

openapi-python-client names a component's model by its `title` where it has one, and stops on two
models of one name (Portkey's prompt completions bring three schemas titled "JSON schema"). Without
their title those components are named by their component names, which are unique. This is the
one liberty `make gen` takes with the effective spec, for the client only: the server and its
models read the spec as it is. Each change is said on stderr; docs/spec-and-gen.md lists the fix.

`make gen` applies it through scripts/client_gen.py; alone:

    python scripts/unshared_titles.py EFFECTIVE > CLIENT_INPUT
"""

from __future__ import annotations

import sys
from collections import defaultdict

import yaml


def unshared(spec: dict) -> list[tuple[str, list[str]]]:
    """Drop the title of every component schema whose title another shares; what was dropped, by title."""
    schemas = (spec.get("components") or {}).get("schemas") or {}
    by_title: dict[str, list[str]] = defaultdict(list)
    for name, schema in schemas.items():
        if isinstance(schema, dict) and isinstance(schema.get("title"), str):
            by_title[schema["title"]].append(name)
    shared = [(title, names) for title, names in by_title.items() if len(names) > 1]
    for _, names in shared:
        for name in names:
            del schemas[name]["title"]
    return shared


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    spec = yaml.safe_load(text)
    shared = unshared(spec)
    if not shared:
        sys.stdout.write(text)  # nothing shared: the effective spec as it is
        return 0
    for title, names in shared:
        print(f"client: {', '.join(names)} share the title {title!r}: named by their component names", file=sys.stderr)
    yaml.safe_dump(spec, sys.stdout, sort_keys=False, allow_unicode=True, width=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
