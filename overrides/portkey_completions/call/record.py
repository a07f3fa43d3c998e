"""The call record going down, and the outcome coming back up.

Facts go down, outcomes come back up, as httpx hands a `Request` down and gets a `Response` back
with its facts on it. The edge fills the call in with what it reads off the wire (headers, the
alternative matched, the trace id, the namespace, the validated body) and hands it in; no room
below assigns to it. Each room returns what it made: the gateway an `Outcome` with its response
and where it routed (`Routed`), control the same with the scenario rule it applied. The edge
writes Portkey's response headers (`portkey_headers`) and the journal entry from the call and
the outcome, so no layer reaches sideways for another's facts.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from starlette.responses import Response
from starlette.types import Receive

from portkey_completions.core import headers as portkey

from .security import Alternatives, Requirement

# The scope key under which the edge names a request's `/ns/<name>/` (server.namespaces): ASGI's
# own way to pass a fact inward, read by the door and by the admin API.
NAMESPACE = "portkey.namespace"

# Trace ids: unique per process without a system call per request.
_PREFIX = secrets.token_hex(10)
_count = itertools.count()


def new_trace_id() -> str:
    return f"{_PREFIX}-{next(_count):012x}"


class Routed(NamedTuple):
    """Where the gateway sent a call, and what came of it: what Portkey's routed answers say."""

    provider: str
    path: str  # the config node answered (Portkey's last used option index)
    retries: int  # gateway.backoff.EXHAUSTED: all were spent
    cache: str = "DISABLED"  # HIT, MISS, REFRESH, or DISABLED (no cache on the target)
    not_applied: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ("single",)  # the strategy modes on the way from the config's root


class Outcome(NamedTuple):
    """What the rooms below the edge made of a call: the response, and the facts on it."""

    response: Response
    routed: Routed | None = None  # where the gateway sent the call; None if it did not route it
    rule: str | None = None  # the scenario rule (or `replay`) that answered or shaped the call
    faults: tuple[str, ...] = ()  # what of the rule's `respond` it applied (admin.yaml's RuleSpec keys)

    @property
    def status(self) -> int:
        return self.response.status_code


class Call:
    """One request, as every room below the edge sees it: what the edge read off the wire, never written below.

    Attributes:
        headers: The request's headers, names in lower case (with what `--openai-compatible` adds).
        body: The JSON body, once validated (None before, and for requests refused first).
        requirement: The most specific auth alternative the headers satisfy, matched once.
        alternative: Its name as the journal and metrics say it (`openai_compatible` for a plain
            OpenAI request let in by `--openai-compatible`).
        trace_id: The caller's `x-portkey-trace-id`, or a new one.
        namespace: The `/ns/<name>/` the request came under, or None.
        plain: A plain OpenAI request let in by `--openai-compatible` (its headers have the Portkey
            ones it stands for added): answered without x-portkey-*.
        receive: The request's receive channel (the door's, which journals a client that leaves),
            for a wait that listens for the client leaving.
        via: Where a saved prompt runs when the headers name no route: a virtual key, or the stub
            (`gateway.prompts`); None for every other call.
        span: The request's OpenTelemetry span, when tracing is on (`observe.telemetry`).
    """

    __slots__ = (
        "alternative",
        "body",
        "headers",
        "namespace",
        "plain",
        "receive",
        "requirement",
        "span",
        "trace_id",
        "via",
    )

    def __init__(
        self,
        headers: dict[str, str],
        alternatives: Alternatives,
        receive: Receive,
        *,
        namespace: str | None = None,
        plain: bool = False,
    ) -> None:
        self.headers = headers
        self.plain = plain
        self.requirement: Requirement | None = alternatives.match(headers)
        self.alternative: str | None = (
            portkey.OPENAI_COMPATIBLE if plain else None if self.requirement is None else self.requirement.name
        )
        self.trace_id: str = headers.get(portkey.TRACE_ID) or new_trace_id()
        self.namespace = namespace
        self.receive = receive
        self.body: dict[str, Any] | None = None
        self.via: str | None = None
        self.span: Any = None

    @classmethod
    def of(cls, headers: Mapping[str, str], body: dict[str, Any], alternatives: Alternatives) -> Call:
        """A call made off the wire, for code that drives a room directly (benchmarks, tests)."""

        async def never() -> Any:  # nobody to listen to
            raise RuntimeError("no client to listen to")

        call = cls({k.lower(): v for k, v in headers.items()}, alternatives, never)
        call.body = body
        return call
