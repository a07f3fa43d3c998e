"""The server's Prometheus metrics, with fixed names, so that dashboards and alerts can rely on them.

Every room records what it alone knows: the edge a request's route, status, duration and time to
first token; the stub the tokens of each completion it answers, the gateway those an upstream or
the cache reports in its usage; the gateway its upstream attempts,
retries, fallbacks and cache; control the rules that answered and the state's failures. The
labels are bounded: no trace id, no key, a `model` only from the model table (else `other`), a
`target` is a provider's name, and a `rule` is a file rule's id (run-time rules are `admin`, a
`Prefer` header's `prefer`).

With `--workers N` every worker writes its figures to files in one directory (prometheus-client's
multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, set by `portkey-stub serve` before the workers
start), and one scrape of `/metrics`, by whichever worker answers, sums them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

# No `_created` series beside each counter and histogram: they double the series count, and no
# dashboard reads them (most exporters turn them off too).
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's: where each worker writes its figures
ROUTES = ("stub", "gateway", "scenario", "replay", "openai_compatible")
OUTCOMES = ("ok", "4xx", "5xx", "timeout", "unreachable")
OTHER = "other"
# Seconds: a stub answers in a millisecond or two, an upstream in seconds, a long stream in minutes.
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

REQUESTS = Counter(
    "portkey_stub_requests", "Requests under the API's base path, by route, auth alternative and the status the "
    "client saw", ("route", "alternative", "status"))  # fmt: skip
DURATION = Histogram(
    "portkey_stub_request_duration_seconds", "From the request's arrival to its answer's last byte",
    ("route", "alternative"), buckets=LATENCY)  # fmt: skip
TIME_TO_FIRST_TOKEN = Histogram(
    "portkey_stub_time_to_first_token_seconds", "Streams: from the request's arrival to the first event",
    ("route",), buckets=LATENCY)  # fmt: skip
TOKENS = Counter(
    "portkey_stub_tokens", "Tokens of the completions answered (the stub's usage; an upstream's or the cache's "
    "reported usage), by kind (prompt, completion)", ("kind", "model"))  # fmt: skip
UPSTREAM_ATTEMPTS = Counter(
    "portkey_stub_upstream_attempts", "Attempts at an upstream, by target and outcome",
    ("target", "outcome"))  # fmt: skip
UPSTREAM_DURATION = Histogram(
    "portkey_stub_upstream_duration_seconds", "An upstream attempt until its answer began", ("target",),
    buckets=LATENCY)  # fmt: skip
RETRIES = Counter("portkey_stub_retries", "Retries a config's retry made")
FALLBACKS = Counter("portkey_stub_fallbacks", "Moves of a fallback strategy to its next target")
CACHE = Counter("portkey_stub_cache", "Answers of cached targets, by cache status (HIT, MISS, REFRESH)", ("status",))
RULE_HITS = Counter("portkey_stub_rule_hits", "Requests a scenario rule answered or shaped", ("rule",))
STATE_ERRORS = Counter("portkey_stub_state_errors", "Times the shared state could not be read or written")


class Tokens:
    """The tokens answered (`portkey_stub_tokens_total`), by kind and model.

    Made once by the composition root from the server's model table and handed to those that
    count (the stub, the gateway's leaves and cache): a model of the table is its own label, any
    other is `other`, so the label's values stay bounded whatever callers send.
    """

    def __init__(self, models: Collection[str]) -> None:
        self.models = frozenset(models)
        self._series: dict[str, tuple[Any, Any]] = {}  # label -> its two series (`labels` costs microseconds)

    def label(self, model: Any) -> str:
        return model if isinstance(model, str) and model in self.models else OTHER

    def count(self, model: Any, prompt: int, completion: int) -> None:
        """Count a usage answered."""
        label = self.label(model)
        series = self._series.get(label)
        if series is None:
            series = self._series[label] = (TOKENS.labels("prompt", label), TOKENS.labels("completion", label))
        series[0].inc(prompt)
        series[1].inc(completion)

    def reported(self, model: Any, raw: bytes) -> None:
        """Count the usage an upstream's answer or stream chunk, or a cached answer, carries (if any)."""
        found = usage_in(raw)
        if found is not None:
            self.count(model, *found)


_USAGE = b'"usage":'
_TOKENS = re.compile(rb'"(prompt|completion)_tokens":\s*(\d+)')


def usage_in(raw: bytes) -> tuple[int, int] | None:
    """The (prompt, completion) tokens of the usage an answer or a stream chunk carries, if it carries one."""
    at = raw.rfind(_USAGE)
    if at < 0:
        return None
    counts = dict(_TOKENS.findall(raw, at, at + 512))  # a usage object is small; its details come after
    if b"prompt" in counts and b"completion" in counts:
        return int(counts[b"prompt"]), int(counts[b"completion"])
    return None


def outcome(status: int, code: str | None = None) -> str:
    """An upstream attempt's outcome: its answer's status family, or what the gateway met instead of one."""
    if code in ("upstream_timeout", "request_timeout"):
        return "timeout"
    if code == "upstream_unreachable":
        return "unreachable"
    if status < 400:
        return "ok"
    return "4xx" if status < 500 else "5xx"
