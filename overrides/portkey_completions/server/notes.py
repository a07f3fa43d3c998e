"""Facts about the request being handled, noted by the layer that knows them, for its journal entry.

The gateway knows the route and provider, the front knows the auth alternative and the scenario
rule; the journal opens the request's entry with `open_entry`. Layers call `note` without
knowing whether, or by whom, the entry is kept: that keeps the gateway and the server free of any
import of the contract-testing controls.
"""

from __future__ import annotations

import contextvars
from typing import Any

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("journal_entry", default=None)


def note(**fields: Any) -> None:
    """Add fields to the journal entry of the request being handled, if one is kept."""
    entry = _current.get()
    if entry is not None:
        entry.update(fields)


def noted(field: str) -> Any:
    """What has been noted as `field` for the request being handled (None: nothing, or no entry kept)."""
    entry = _current.get()
    return None if entry is None else entry.get(field)


def open_entry(entry: dict[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
    """From now on (and in tasks started from now), notes go into `entry`; `close_entry` with the token ends it.

    A pair of calls rather than a context manager: this runs on every request, and a generator-based
    `with` costs more than the rest of the journal's opening.
    """
    return _current.set(entry)


def close_entry(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _current.reset(token)
