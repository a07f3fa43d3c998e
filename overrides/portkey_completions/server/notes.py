"""Facts about the request being handled, noted by the layer that knows them.

The gateway knows the route and provider, the front knows the auth alternative and the scenario
rule; whoever records requests (the journal) opens a record with `recording`. Layers call `note`
without knowing whether, or by whom, the record is kept: that keeps the gateway and the server
free of any import of the testing toolkit.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("request_record", default=None)


def note(**fields: Any) -> None:
    """Add fields to the record of the request being handled, if one is kept."""
    record = _current.get()
    if record is not None:
        record.update(fields)


@contextlib.contextmanager
def recording(record: dict[str, Any]) -> Iterator[None]:
    """Notes made while the block runs (and in tasks it starts) go into `record`."""
    token = _current.set(record)
    try:
        yield
    finally:
        _current.reset(token)
