"""JSON from outside the process: parsed, or refused with ValueError, never a RecursionError.

The standard parser recurses once per nesting level, so `[[[[…]]]]` a few thousand deep raises
RecursionError, which a `except ValueError` does not catch: a 500 from a 20 KB header. Every
parse of a body, header, admin request, upstream answer or cassette goes through here.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """json.loads, with nesting too deep for the parser refused as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
