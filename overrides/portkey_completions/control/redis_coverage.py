"""Contract coverage's counts on Redis: one hash, `namespace<NAMESPACED>key` -> count, summed over the fleet.

Counts wait in the process until the journal's next batch (`RedisState.closed`), and go in the
same round trip, so a request's counts are written before its caller has the whole answer, as its
entry is. Kept apart from the journal: not capped, and not dropped with a namespace.
"""

from __future__ import annotations

import collections
from typing import Any

from .state import NAMESPACED, summed

COVERAGE = "portkey-stub:coverage"


def pending() -> collections.Counter[str]:
    """Counts waiting for the next write."""
    return collections.Counter()


def add(waiting: collections.Counter[str], namespace: str | None, keys: list[str]) -> None:
    prefix = (namespace or "") + NAMESPACED
    for key in keys:
        waiting[prefix + key] += 1


def write(pipe: Any, waiting: collections.Counter[str]) -> None:
    """The waiting counts, as commands on the journal's pipeline."""
    for stored, count in waiting.items():
        pipe.hincrby(COVERAGE, stored, count)


async def read(commands: Any, namespace: str | None) -> dict[str, int]:
    raw = await commands.hgetall(COVERAGE)
    return summed(((k.decode(), int(v)) for k, v in raw.items()), namespace)


async def forget(commands: Any, namespace: str | None) -> None:
    if namespace is None:
        await commands.delete(COVERAGE)
        return
    prefix = (namespace + NAMESPACED).encode()
    stale = [k for k in await commands.hkeys(COVERAGE) if k.startswith(prefix)]
    if stale:
        await commands.hdel(COVERAGE, *stale)
