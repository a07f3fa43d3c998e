"""The one writer of Portkey's response headers, from the call record and where it was routed.

portkey-ai's SDKs retry a 5xx themselves unless the answer carries `x-portkey-trace-id`, the sign
that a Portkey gateway answered (and did its own retrying). Without it, a test of "my code handles
a 500" sees the SDK's retry succeed behind its back. So every answer under the base path,
whichever layer made it (connexion's refusals, the fast path, scenario answers, gateway errors),
carries the trace id, the retry attempt count and the cache status; a routed answer also carries
the provider and the last used option index (and the request id, where the spec declares one).

In `--openai-compatible` mode a plain OpenAI request is answered as an OpenAI upstream answers,
with no `x-portkey-*` header: a Portkey gateway in front of this server would otherwise merge
ours into its own (`x-portkey-provider: stub, openai`).
"""

from __future__ import annotations

import functools

from portkey_completions.core import headers as portkey
from portkey_completions.core import spec

from .record import Call, Routed

Raw = list[tuple[bytes, bytes]]

TRACE_ID = portkey.TRACE_ID.encode()
PROVIDER = b"x-portkey-provider"
RETRY_ATTEMPT_COUNT = b"x-portkey-retry-attempt-count"
LAST_USED_OPTION_INDEX = b"x-portkey-last-used-option-index"
CACHE_STATUS = b"x-portkey-cache-status"
NOT_APPLIED = b"x-portkey-not-applied"  # config keys accepted that had no effect (gateway/config.py)
REQUEST_ID = b"x-request-id"
_PREFIX = b"x-portkey-"
# Ours on a routed answer: any copies already there (an upstream's) are dropped for them.
_ROUTED = frozenset({TRACE_ID, PROVIDER, RETRY_ATTEMPT_COUNT, LAST_USED_OPTION_INDEX, CACHE_STATUS, NOT_APPLIED})


@functools.cache
def _request_id_declared() -> bool:
    """Whether the spec declares a request id header on the answer, which the trace id then fills."""
    return REQUEST_ID.decode() in spec.response_headers("/completions", "post", 200)


def stamped(raw: Raw, call: Call, routed: Routed | None) -> Raw:
    """An answer's headers as they leave: Portkey's written from the call and its routing (or, `plain`, none at all).

    The names in `raw` are lower case, as Starlette's responses keep them (ASGI's rule).
    """
    if call.plain:
        return [(n, v) for n, v in raw if not n.startswith(_PREFIX)]
    trace = call.trace_id.encode("latin-1")
    if routed is None:
        # Not routed (refused before, or answered by control): a scenario rule's own headers stay.
        present = {n for n, _ in raw}
        ours = [(TRACE_ID, trace), (RETRY_ATTEMPT_COUNT, b"0"), (CACHE_STATUS, b"DISABLED")]
        return [*raw, *[(n, v) for n, v in ours if n not in present]]
    # An upstream's own copies, or ours from a first writing: the writing is idempotent.
    raw = [(n, v) for n, v in raw if n not in _ROUTED]
    # Portkey's option index is a path in the config; a request routed by headers alone is
    # the config's root, "config" (the journal's route still says which alternative).
    path = routed.path if routed.path.startswith("config") else "config"
    out = [
        *raw,
        (TRACE_ID, trace),
        (PROVIDER, routed.provider.encode("latin-1")),
        (RETRY_ATTEMPT_COUNT, str(routed.retries).encode()),
        (LAST_USED_OPTION_INDEX, path.encode("latin-1")),
        (CACHE_STATUS, routed.cache.encode()),
    ]
    if _request_id_declared() and not any(n == REQUEST_ID for n, _ in raw):  # an upstream's own stays
        out.append((REQUEST_ID, trace))
    if routed.not_applied:
        out.append((NOT_APPLIED, ", ".join(routed.not_applied).encode("latin-1")))
    return out
