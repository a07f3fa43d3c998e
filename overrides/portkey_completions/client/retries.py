"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from portkey_completions.core import retry_after

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Retries:
    """Exponential backoff with jitter; a server's Retry-After wins, up to `max_wait`.

    Attributes:
        max_retries: Tries after the first (0: never retry).
        initial_delay: The first backoff, in seconds; it doubles with each retry.
        max_delay: The longest backoff.
        max_wait: The longest Retry-After honoured; a longer one is not waited for (the error is raised).
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_delay < 0 or self.max_delay < 0 or self.max_wait < 0:
            raise ValueError("retry settings must not be negative")

    def retryable(self, status: int) -> bool:
        return status in RETRY_STATUSES or status >= 500

    def delay(self, retry: int, response: httpx.Response | None = None) -> float | None:
        """Seconds to wait before retry number `retry` (0-based); None: do not retry."""
        if retry >= self.max_retries:
            return None
        after = retry_after.seconds(response.headers) if response is not None else None
        if after is not None:
            return after if after <= self.max_wait else None
        backoff = min(self.max_delay, self.initial_delay * 2.0**retry)
        # Jitter spreads the retries of many clients that failed together.
        return backoff * (0.5 + random.random() / 2)
