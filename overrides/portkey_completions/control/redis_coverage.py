"""Contract coverage's counts on Redis: one hash, `namespace<NAMESPACED>key` -> count, summed over the fleet.

Requests' tallies wait in the process until the journal's next batch (`RedisState.closed`), and go
in the same script call, so a request's counts are written before its caller has the whole answer,
as its entry is. Kept apart from the journal: not capped, and not dropped with a namespace.
"""

from __future__ import annotations

import collections
from typing import Any

from .state import Tallies

COVERAGE = "portkey-stub:coverage"
NAMESPACED = "\x1e"  # between a stored count's namespace ("" for none) and its key


def fields(tallies: Tallies) -> list[str | int]:
    """The waiting tallies as (field, count) pairs, flat: the journal's script adds them in its one call."""
    counts: collections.Counter[str] = collections.Counter()
    for (namespace, keys), requests in tallies.items():
        prefix = (namespace or "") + NAMESPACED
        for key in keys:
            counts[prefix + key] += requests
    return [part for pair in counts.items() for part in pair]


async def read(commands: Any, namespace: str | None) -> dict[str, int]:
    found: collections.Counter[str] = collections.Counter()
    for raw, count in (await commands.hgetall(COVERAGE)).items():
        ns, _, key = raw.decode().partition(NAMESPACED)
        if namespace is None or ns == namespace:
            found[key] += int(count)
    return dict(found)


async def forget(commands: Any, namespace: str | None) -> None:
    if namespace is None:
        await commands.delete(COVERAGE)
        return
    prefix = (namespace + NAMESPACED).encode()
    stale = [k for k in await commands.hkeys(COVERAGE) if k.startswith(prefix)]
    if stale:
        await commands.hdel(COVERAGE, *stale)
