"""Facts about the request being handled, noted by the layer that knows them.

The gateway knows the route and provider, the front knows the auth alternative and the scenario
rule; whoever records requests (the journal) opens a record with `open_record`. Layers call `note`
without knowing whether, or by whom, the record is kept: that keeps the gateway and the server
free of any import of the testing toolkit.
"""

from __future__ import annotations

import contextvars
from typing import Any

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("request_record", default=None)


def note(**fields: Any) -> None:
    """Add fields to the record of the request being handled, if one is kept."""
    record = _current.get()
    if record is not None:
        record.update(fields)


def open_record(record: dict[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
    """From now on (and in tasks started from now), notes go into `record`; `close_record` with the token ends it.

    A pair of calls rather than a context manager: this runs on every request, and a generator-based
    `with` costs more than the rest of the journal's opening.
    """
    return _current.set(record)


def close_record(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _current.reset(token)
