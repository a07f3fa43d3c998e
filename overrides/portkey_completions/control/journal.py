"""The request journal: every /v1 request, bounded, with secrets redacted, kept by the state (`state.py`).

The edge's door opens an entry per request (`Journal.open`), a typed `Entry`; it writes what it
sees on the wire into it (body, status, timings, streamed events) and what the call's outcome
says (`Entry.noted`: the auth alternative, the scenario rule, the route), and hands it back when
the answer is complete (`Journal.closed`). An entry leaves the process as a dict (`Entry.fields`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import Scope

from portkey_completions.call.record import Call
from portkey_completions.core import untrusted
from portkey_completions.observe import telemetry

from .entry import Entry
from .redaction import headers_of
from .state import JournalState

MAX_BODY = 64 * 1024  # bytes of a request's body an entry keeps


async def client_leaves_within(call: Call, seconds: float) -> bool:
    """Wait `seconds`, or less if the client goes away meanwhile; whether it went away.

    For a deliberate wait once the body is read (a scenario's latency): nothing else listens for
    the client then, so without this a client that gave up would be journaled as answered. The
    call's receive is the door's, which notes the leaving in the entry.
    """
    try:
        async with asyncio.timeout(seconds):
            while (await call.receive())["type"] != "http.disconnect":
                pass  # a body the app left unread: nothing to keep
    except TimeoutError:
        return False
    return True


class Journal:
    """The journal's entries, kept by the state: this process's memory, or Redis for a fleet."""

    def __init__(self, state: JournalState) -> None:
        self.state = state

    async def read(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The entries of `namespace`, oldest first; None: every entry."""
        return [readable(e) for e in await self.state.entries(namespace)]  # Redis's are already

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the entries of `namespace`; None: every entry."""
        await self.state.forget(namespace)

    def open(self, scope: Scope, call: Call) -> Entry:
        """A request's entry, raw: its header list as received, its body as bytes (see `readable`)."""
        entry = Entry(
            time.time(),
            scope["method"],
            scope["path"],
            scope["headers"],
            call.namespace,
            call.trace_id,
            None if call.span is None else telemetry.trace_hex(call.span),
            self.state.worker,
        )
        self.state.opened(entry)
        return entry

    async def closed(self, entry: Entry) -> None:
        """The request's answer is complete (or the caller left): its entry is final."""
        await self.state.closed(entry)

    @property
    def shared(self) -> bool:
        """Whether other processes read this journal (an entry is then closed before the answer's last byte)."""
        return self.state.shared


def readable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as it may leave the process: headers redacted, the body parsed (raw until someone asks)."""
    headers = entry["headers"]
    return {
        **entry,
        "headers": headers_of(headers) if isinstance(headers, list) else headers,
        "body": _body(entry["body"]) if isinstance(entry["body"], bytes) else entry["body"],  # bytes: still raw
    }


def _body(raw: bytes) -> Any:
    # Standard JSON only: a body with NaN is kept as its text, or the journal could not be sent.
    try:
        return untrusted.loads(raw, standard=True)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
