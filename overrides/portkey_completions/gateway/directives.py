"""What a call directs, read once per call for every node of its config tree.

Portkey's per-request headers: a timeout per attempt, headers to forward, the metadata
conditional routing reads, and the cache's namespace and forced refresh. And control's shaping
of the stub's answer (a scenario rule's), handed down beside the call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.record import Call
from portkey_completions.call.shape import Shape
from portkey_completions.core import untrusted

from . import config as configs

REQUEST_TIMEOUT = "x-portkey-request-timeout"
FORWARD_HEADERS = "x-portkey-forward-headers"
METADATA = "x-portkey-metadata"
CACHE_FORCE_REFRESH = "x-portkey-cache-force-refresh"
CACHE_NAMESPACE = "x-portkey-cache-namespace"


class Directives(NamedTuple):
    call: Call
    shape: Shape | None  # how control asked the stub's answer to be shaped (a scenario rule), or None
    timeout: float | None  # x-portkey-request-timeout, in seconds: each attempt's, where the config sets none
    forward: tuple[str, ...]  # x-portkey-forward-headers

    @property
    def body(self) -> dict[str, Any]:
        body = self.call.body
        assert body is not None  # the edge hands on validated calls only
        return body

    @classmethod
    def of(cls, call: Call, shape: Shape | None = None) -> Directives:
        """The call's directives; a Portkey header that says nothing usable is a 400 naming it."""
        headers = call.headers
        timeout = None
        if headers.get(REQUEST_TIMEOUT):
            try:
                timeout = float(headers[REQUEST_TIMEOUT]) / 1000
            except ValueError:
                timeout = math.nan
            if not 0 < timeout < math.inf:
                raise ServerAPIError(
                    400, f"{REQUEST_TIMEOUT} must be a positive number of milliseconds.", param=REQUEST_TIMEOUT
                )
        forward: tuple[str, ...] = ()
        if FORWARD_HEADERS in headers:
            names = configs.header_names(headers[FORWARD_HEADERS])
            if names is None:
                raise ServerAPIError(
                    400, f"{FORWARD_HEADERS} is a comma-separated list of header names.", param=FORWARD_HEADERS
                )
            forward = names
        return cls(call, shape, timeout, forward)

    def context(self) -> dict[str, Mapping[str, Any]]:
        """What a conditional node's queries read: the metadata header's object, and the body."""
        raw = self.call.headers.get(METADATA)
        metadata: Any = {}
        if raw:
            try:
                metadata = untrusted.loads(raw)
            except ValueError:
                metadata = None
            if not isinstance(metadata, dict):
                raise ServerAPIError(400, f"{METADATA} must be a JSON object.", param=METADATA, code="invalid_metadata")
        return {"metadata": metadata, "params": self.body}

    def cache_partition(self) -> tuple[str | None, ...]:
        """What keeps caches apart: the /ns/<name>/ namespace and x-portkey-cache-namespace."""
        return self.call.namespace, self.call.headers.get(CACHE_NAMESPACE)

    def force_refresh(self) -> bool:
        return self.call.headers.get(CACHE_FORCE_REFRESH, "").strip().lower() == "true"
