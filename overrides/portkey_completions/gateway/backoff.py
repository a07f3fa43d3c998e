"""How long a config's retry waits, and how the retry count is told when every retry is spent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is waited only this long
# The wait before retry k (from 0) when the answer gives no Retry-After: Portkey's own, or quick
# ones for test suites, which a wait of seconds per retry would slow down.
Backoff = Literal["portkey", "fast"]
BACKOFFS: Mapping[Backoff, Callable[[int], float]] = {
    "portkey": lambda retries: 2.0**retries,  # 1 s, 2 s, 4 s, …, as Portkey's gateway waits
    "fast": lambda retries: min(2.0, 0.1 * 2.0**retries),  # 0.1 s, 0.2 s, … up to 2 s
}
DEFAULT: Backoff = "portkey"
EXHAUSTED = -1  # x-portkey-retry-attempt-count when every retry was spent and the last still failed


def wait(retry_after: float | None, retries: int, backoff: Callable[[int], float]) -> float:
    """Seconds before the next retry: the answer's Retry-After (up to MAX_RETRY_AFTER), else the backoff's."""
    if retry_after is not None:
        return min(MAX_RETRY_AFTER, retry_after)
    return backoff(retries)
