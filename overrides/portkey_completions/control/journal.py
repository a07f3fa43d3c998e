"""The request journal: every /v1 request, bounded, with secrets redacted, kept by the state (`state.py`).

The edge's door opens an entry per request (`Journal.open`), a typed `Entry`; it writes what it
sees on the wire into it (body, status, timings, streamed events) and what the call's outcome
says (`Entry.noted`: the auth alternative, the scenario rule, the route), and hands it back when
the answer is complete (`Journal.closed`). An entry leaves the process as a dict (`Entry.fields`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from portkey_completions.call.record import Call, Outcome
from portkey_completions.core import untrusted
from portkey_completions.observe import telemetry

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


@dataclass(slots=True, eq=False)
class Entry:
    """One request in the journal (admin.yaml's `Entry`): what the edge saw, and what the outcome said."""

    time: float
    method: str
    path: str
    headers: Any  # the header list as received; redacted when the entry leaves the process
    namespace: str | None
    trace_id: str  # Portkey's: in the answer's headers and every log line
    otel_trace_id: str | None
    worker: str
    id: int | None = None
    body: Any = None  # the bytes as received, parsed when someone reads the entry (`readable`)
    alternative: str | None = None
    route: str | None = None
    provider: str | None = None
    rule: str | None = None
    retries: int | None = None  # a routed request's retry attempt count
    status: int | None = None
    events: int = 0
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    done: bool = False
    client_gone: bool = False

    def noted(self, call: Call, outcome: Outcome | None) -> None:
        """The call's alternative, and what its outcome says: the rule applied, where it was routed."""
        self.alternative = call.alternative
        if outcome is None:
            return
        self.rule = outcome.rule
        routed = outcome.routed
        if routed is not None:
            self.provider, self.route, self.retries = routed.provider, routed.path, routed.retries

    def fields(self) -> dict[str, Any]:
        """The entry as a dict, raw (headers and body as received); `retries` only for a routed request."""
        fields = {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "alternative": self.alternative,
            "route": self.route,
            "provider": self.provider,
            "rule": self.rule,
            "status": self.status,
            "events": self.events,
            "ttfb_ms": self.ttfb_ms,
            "duration_ms": self.duration_ms,
            "done": self.done,
            "client_gone": self.client_gone,
            "namespace": self.namespace,
            "trace_id": self.trace_id,
            "otel_trace_id": self.otel_trace_id,
            "worker": self.worker,
        }
        if self.retries is not None:
            fields["retries"] = self.retries
        return fields


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
