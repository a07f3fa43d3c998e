"""`make update-spec SPEC=FILE`: take a newly published spec into openapi/, and pin it beside it.

The file is copied byte for byte (the project never edits it) and its pin is written to
openapi/portkey-completions.lock: its SHA-256, where it came from and when. The pin's diff is
reviewed with the spec's; `tests/unit/test_overlay.py` fails when the spec and its pin disagree
(an edit by hand), naming this command. Then `make gen` regenerates from it.

    python scripts/update_spec.py FILE [--source WHERE]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "portkey-completions.yaml"
LOCK = SPEC.with_suffix(".lock")
HEADER = "# The pin of portkey-completions.yaml, written by `make update-spec`: never edit either by hand.\n"


def pin(raw: bytes, source: str) -> dict[str, str]:
    return {
        "file": SPEC.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "source": source,
        "taken": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the published spec (OpenAPI 3.0, YAML or JSON), as published")
    parser.add_argument("--source", help="where it was published (a URL); default: the file's path")
    args = parser.parse_args(argv)
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        parser.error(f"{args.file}: {exc.strerror}")
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        parser.error(f"{args.file} is not YAML or JSON: {exc}")
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        parser.error(f"{args.file} is not an OpenAPI 3 document (no `openapi: 3.x`)")
    SPEC.write_bytes(raw)
    source = args.source or str(args.file)
    LOCK.write_text(HEADER + yaml.safe_dump(pin(raw, source), sort_keys=False), encoding="utf-8")
    print(f"openapi/{SPEC.name} taken from {source}; pinned in openapi/{LOCK.name}. Now run `make gen`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
