"""How long a server asked its caller to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date.

One parser for the client's retries and the gateway's; `now` is injectable so the HTTP-date
arithmetic is tested without a clock.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping


def seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """The wait asked for, in seconds (never negative); None when the headers ask for none we can read.

    `headers` is looked up by lower-case name (httpx's headers are case-insensitive anyway).
    `retry-after-ms` (OpenAI's, finer) wins over `Retry-After`.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
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
    return max(0.0, when.timestamp() - now())
