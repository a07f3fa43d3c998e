"""What one request brings to every node of its config tree: its body, its headers, and what Portkey's headers ask."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from portkey_completions.core import untrusted
from portkey_completions.server import namespaces
from portkey_completions.server.errors import ServerAPIError

from . import config as configs

REQUEST_TIMEOUT = "x-portkey-request-timeout"
FORWARD_HEADERS = "x-portkey-forward-headers"
METADATA = "x-portkey-metadata"
CACHE_FORCE_REFRESH = "x-portkey-cache-force-refresh"
CACHE_NAMESPACE = "x-portkey-cache-namespace"


class Call(NamedTuple):
    body: dict[str, Any]
    headers: Mapping[str, str]
    timeout: float | None  # x-portkey-request-timeout, in seconds: each attempt's, where the config sets none
    forward: tuple[str, ...]  # x-portkey-forward-headers

    @classmethod
    def of(cls, headers: Mapping[str, str], body: dict[str, Any]) -> Call:
        """The request's call; a Portkey header that says nothing usable is a 400 naming it."""
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
        return cls(body, headers, timeout, forward)

    def context(self) -> dict[str, Mapping[str, Any]]:
        """What a conditional node's queries read: the metadata header's object, and the body."""
        raw = self.headers.get(METADATA)
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
        return namespaces.current.get(), self.headers.get(CACHE_NAMESPACE)

    def force_refresh(self) -> bool:
        return self.headers.get(CACHE_FORCE_REFRESH, "").strip().lower() == "true"
