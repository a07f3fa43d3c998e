"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

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
        after = retry_after(response) if response is not None else None
        if after is not None:
            return after if after <= self.max_wait else None
        backoff = min(self.max_delay, self.initial_delay * 2.0**retry)
        # Jitter spreads the retries of many clients that failed together.
        return backoff * (0.5 + random.random() / 2)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After (or retry-after-ms) as seconds: a number, or an HTTP date."""
    ms = response.headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
