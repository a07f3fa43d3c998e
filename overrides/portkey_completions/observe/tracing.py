"""The trace context a call carries on to an upstream: Portkey's trace id and a W3C `traceparent`.

The upstream hears the caller's `x-portkey-trace-id` (or the one the door made), so one id finds
the request in both servers' logs, and a `traceparent`: the caller's trace continued (its trace
id and flags, this hop as the parent), or a new trace where the caller sent none or a malformed one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from portkey_completions.core import headers as portkey

TRACEPARENT = "traceparent"
_W3C = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ids = random.Random()  # ids, not secrets: no system call per forward, and the engine's draws untouched


def span_id() -> str:
    return f"{_ids.getrandbits(64) or 1:016x}"


def traceparent(incoming: str | None) -> str:
    """The `traceparent` to send on: the incoming trace continued with a new parent id, or a new trace."""
    found = _W3C.fullmatch(incoming.strip().lower()) if incoming else None
    if found is not None and found.group(1) != "0" * 32 and found.group(2) != "0" * 16:
        return f"00-{found.group(1)}-{span_id()}-{found.group(3)}"
    return f"00-{_ids.getrandbits(128) or 1:032x}-{span_id()}-01"


def forwarded(trace_id: str, headers: Mapping[str, str], parent: str | None = None) -> tuple[tuple[bytes, bytes], ...]:
    """The trace headers of a forwarded request; `parent`: the attempt's own `traceparent` (tracing on)."""
    return (
        (portkey.TRACE_ID.encode(), trace_id.encode("latin-1")),
        (TRACEPARENT.encode(), (parent or traceparent(headers.get(TRACEPARENT))).encode()),
    )
