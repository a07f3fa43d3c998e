"""Where the state lives that answers depend on: run-time rules, their counters, the journal, the response cache.

Four interfaces, one for each user: `RuleState` (the scenario rules, `scenarios.Scenarios`),
`JournalState` (`journal.Journal`), `CoverageState` (contract coverage's counts, `coverage`) and
the gateway's `ResponseCache`. `State` is all four with a
lifecycle, made once per server by the composition root (`app.open_state`, by URL): `Memory`,
the default (one process, nothing to set up), or `redis_state.RedisState`, the shared one
(`--state redis://host:port/db`), for several workers or replicas that must act as one server.
File rules are not state: every process reads the same file; their counters are, so that `times`
and `fail_first` count fleet-wide.
"""

from __future__ import annotations

import abc
import collections
import itertools
import os
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.gateway.cache import ResponseCache

if TYPE_CHECKING:
    from .entry import Entry
    from .rules import Rule

JOURNAL_SIZE = 1000  # entries kept, oldest dropped first
CACHE_SIZE = 1000  # cached answers kept (gateway.cache: each at most 1 MB), oldest dropped first
MEMORY = "memory"  # one process; refused with --workers > 1
PER_PROCESS = "per-process"  # memory, with each of --workers N keeping its own (a warning says so)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
STATES = f"{MEMORY}, {PER_PROCESS} or redis://HOST:PORT/DB"


def state_problem(url: str) -> str | None:
    """What is wrong with a state URL, or None: `memory`, `per-process` or a Redis URL."""
    if url in (MEMORY, PER_PROCESS) or url.startswith(REDIS_SCHEMES):
        return None
    return f"{url!r} is not a state: give {STATES}"


class StateUnavailable(Exception):
    """The shared state cannot be read or written now (Redis down or restarting): answer 503, never guess."""


RETRY_AFTER = "1"  # seconds: Redis restarting is usually back by then, and the process reconnects itself


def unavailable(exc: StateUnavailable) -> ServerAPIError:
    """The answer while the state is away: 503 in the OpenAI shape, with a Retry-After clients honour."""
    return ServerAPIError(503, str(exc), code="state_unavailable", headers={"Retry-After": RETRY_AFTER})


def worker_name() -> str:
    """Which worker or replica answered, as journal entries say it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RuleState(abc.ABC):
    """Run-time rules (a namespace each) and their counters. Reads are of a local copy; changes
    reach every process before they return."""

    @abc.abstractmethod
    async def rules(self, namespace: str | None) -> list[Rule]:
        """The namespace's run-time rules, oldest first."""

    @abc.abstractmethod
    async def add(self, new: Rule) -> Rule:
        """Store a rule with a fleet-unique id; returns it."""

    @abc.abstractmethod
    async def remove(self, namespace: str | None, rule_id: str) -> bool:
        """Drop one of the namespace's rules; whether it was there."""

    @abc.abstractmethod
    async def clear(self, namespace: str | None) -> None:
        """Drop the namespace's rules."""

    @abc.abstractmethod
    async def hit(self, rule: Rule) -> int | None:
        """Count a match, atomically: the hit's number, or None when the rule's `times` are used up."""

    @abc.abstractmethod
    async def count(self, rules: Iterable[Rule]) -> None:
        """Bring each rule's `hits` up to date (for listing)."""


class JournalState(abc.ABC):
    """The journal: bounded, ordered, one for the fleet."""

    worker: str  # which worker or replica writes the entries

    @property
    def shared(self) -> bool:
        """Whether other processes see this state."""
        return False

    @abc.abstractmethod
    def opened(self, entry: Entry) -> None:
        """A request began (its entry is still being written by the door)."""

    @abc.abstractmethod
    async def closed(self, entry: Entry) -> None:
        """The request's answer is complete: its entry is final. Never raises: a lost entry is logged."""

    @abc.abstractmethod
    async def entries(self, namespace: str | None) -> list[dict[str, Any]]:
        """The namespace's entries, oldest first (None: every entry); bodies still raw."""

    @abc.abstractmethod
    async def forget(self, namespace: str | None) -> None:
        """Drop the namespace's entries (None: every entry)."""


class CoverageState(abc.ABC):
    """Contract coverage's counters (`coverage`): by namespace, apart from the journal, so neither its
    bound nor a namespace's end at a test's close drops a count."""

    @abc.abstractmethod
    def covered(self, namespace: str | None, keys: tuple[str, ...]) -> None:
        """Count one finished request's keys. Cheap and never raises: a shared state writes them with
        the journal's next batch, which the request's `closed` awaits."""

    @abc.abstractmethod
    async def coverage(self, namespace: str | None) -> dict[str, int]:
        """The counts by key: the namespace's, or (None) every namespace's summed."""

    @abc.abstractmethod
    async def forget_coverage(self, namespace: str | None) -> None:
        """Reset the namespace's counts (None: every count)."""


Tallies = collections.Counter[tuple[str | None, tuple[str, ...]]]  # (namespace, a request's keys) -> requests


def spread(tallies: Tallies, namespace: str | None = None, *, every: bool = True) -> dict[str, int]:
    """Requests' tallies as counts by key: one namespace's, or (`every`) all of them summed.

    A request is counted as one tuple of its keys (one counter step on the hot path), spread when read.
    """
    found: collections.Counter[str] = collections.Counter()
    for (ns, keys), requests in tallies.items():
        if every or ns == namespace:
            for key in keys:
                found[key] += requests
    return dict(found)


class State(RuleState, JournalState, CoverageState, ResponseCache):
    """All four, for one server or a fleet, with a lifecycle: what the composition root makes."""

    url: str

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and take a first copy of the rules; idempotent (a lazy first request calls it too)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of connections."""

    @property
    def shown(self) -> str:
        """The state's URL as it may be shown (no password)."""
        return self.url

    async def problem(self) -> str | None:
        """Why the state cannot be used now (readiness), or None."""
        return None


class Memory(State):
    """One process's memory: the default, and `per-process` for workers that need not agree."""

    def __init__(self, url: str = MEMORY) -> None:
        self.url = url
        self.worker = worker_name()
        self._rules: list[Rule] = []
        self._rule_ids = itertools.count(1)
        self._journal: collections.deque[Entry] = collections.deque(maxlen=JOURNAL_SIZE)
        self._entry_ids = itertools.count(1)
        self._cache: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._covered: Tallies = collections.Counter()

    async def start(self) -> None:
        pass  # nothing to connect to

    async def close(self) -> None:
        pass

    async def rules(self, namespace: str | None) -> list[Rule]:
        return [r for r in self._rules if r.namespace == namespace]

    async def add(self, new: Rule) -> Rule:
        if not new.id:
            new.id = f"rule-{next(self._rule_ids)}"
        self._rules.append(new)
        return new

    async def remove(self, namespace: str | None, rule_id: str) -> bool:
        kept = [r for r in self._rules if not (r.namespace == namespace and r.id == rule_id)]
        found = len(kept) < len(self._rules)
        self._rules = kept
        return found

    async def clear(self, namespace: str | None) -> None:
        self._rules = [r for r in self._rules if r.namespace != namespace]

    async def hit(self, rule: Rule) -> int | None:
        # One event loop: nothing runs between the check and the count.
        if rule.times is not None and rule.hits >= rule.times:
            return None
        rule.hits += 1
        return rule.hits

    async def count(self, rules: Iterable[Rule]) -> None:
        pass  # the rules' own `hits` are the counters

    def opened(self, entry: Entry) -> None:
        # Journaled at once, so that a stream shows (done: false) while it runs.
        entry.id = next(self._entry_ids)
        self._journal.append(entry)

    async def closed(self, entry: Entry) -> None:
        pass

    async def entries(self, namespace: str | None) -> list[dict[str, Any]]:
        return [e.fields() for e in self._journal if namespace is None or e.namespace == namespace]

    async def forget(self, namespace: str | None) -> None:
        kept = [] if namespace is None else [e for e in self._journal if e.namespace != namespace]
        self._journal.clear()
        self._journal.extend(kept)

    def covered(self, namespace: str | None, keys: tuple[str, ...]) -> None:
        self._covered[(namespace, keys)] += 1

    async def coverage(self, namespace: str | None) -> dict[str, int]:
        return spread(self._covered, namespace, every=namespace is None)

    async def forget_coverage(self, namespace: str | None) -> None:
        if namespace is None:
            self._covered.clear()
            return
        for stale in [t for t in self._covered if t[0] == namespace]:
            del self._covered[stale]

    async def cached(self, key: str) -> bytes | None:
        found = self._cache.get(key)
        if found is None:
            return None
        expires, entry = found
        if time.monotonic() >= expires:
            del self._cache[key]
            return None
        return entry

    async def cache(self, key: str, entry: bytes, max_age: float) -> None:
        self._cache.pop(key, None)
        self._cache[key] = (time.monotonic() + max_age, entry)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
