"""A journal entry: one request as the journal keeps it, typed, built from the wire and the call's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portkey_completions.call.record import Call, Outcome


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
