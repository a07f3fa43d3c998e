"""JSON from outside the process: parsed, or refused with ValueError, never a RecursionError.

The standard parser recurses once per nesting level, so `[[[[…]]]]` a few thousand deep raises
RecursionError, which a `except ValueError` does not catch: a 500 from a 20 KB header. Every
parse of a body, header, admin request, upstream answer or cassette goes through here.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes, *, standard: bool = False) -> Any:
    """json.loads, with nesting too deep for the parser refused as a ValueError.

    `standard`: refuse `NaN` and `Infinity` too (Python reads them; RFC 8259 and every JSON
    writer that must produce standard JSON, like a response body, do not).
    """
    try:
        return json.loads(text, parse_constant=_refuse) if standard else json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not standard JSON")
