"""The four auth alternatives of the spec, as the headers each one sends.

Every alternative needs `x-portkey-api-key`; each adds its own headers. A client is built for
exactly one of them, and a combination that is none of them fails here, before any request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portkey_completions.core import headers as portkey
from portkey_completions.core.alternatives import Alternative

# Which arguments each alternative takes, beside api_key. The spec's four, in its order.
ALTERNATIVES: Mapping[Alternative, frozenset[str]] = {
    Alternative.VIRTUAL_KEY: frozenset({"virtual_key"}),
    Alternative.PROVIDER: frozenset({"provider", "authorization"}),
    Alternative.CONFIG: frozenset({"config"}),
    Alternative.CUSTOM_HOST: frozenset({"provider", "authorization", "custom_host"}),
}


@dataclass(frozen=True)
class Credentials:
    api_key: str
    virtual_key: str | None = None
    provider: str | None = None
    authorization: str | None = None
    config: str | Mapping[str, Any] | None = None
    custom_host: str | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required: every Portkey request carries x-portkey-api-key")
        given = frozenset(
            name
            for name in ("virtual_key", "provider", "authorization", "config", "custom_host")
            if getattr(self, name) is not None
        )
        if given not in ALTERNATIVES.values():
            choices = "; ".join(f"{name}: {' + '.join(sorted(args))}" for name, args in ALTERNATIVES.items())
            got = ", ".join(sorted(given)) or "nothing"
            raise ValueError(f"got {got} beside api_key; pass exactly one auth alternative ({choices})")
        for name in given:
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                raise ValueError(f"{name} is empty")

    @property
    def alternative(self) -> Alternative:
        given = frozenset(
            n
            for n in ("virtual_key", "provider", "authorization", "config", "custom_host")
            if getattr(self, n) is not None
        )
        return next(name for name, args in ALTERNATIVES.items() if args == given)

    def headers(self) -> dict[str, str]:
        headers = {"x-portkey-api-key": self.api_key}
        if self.virtual_key is not None:
            headers["x-portkey-virtual-key"] = self.virtual_key
        if self.authorization is not None:
            headers["Authorization"] = portkey.authorization(self.authorization)
        if self.provider is not None:
            headers["x-portkey-provider"] = self.provider
        if self.config is not None:
            # A config is an id ("pc-…") or the config itself, sent as JSON.
            headers["x-portkey-config"] = self.config if isinstance(self.config, str) else json.dumps(self.config)
        if self.custom_host is not None:
            headers["x-portkey-custom-host"] = self.custom_host
        return headers


def optional_headers(
    *, trace_id: str | None, metadata: Mapping[str, Any] | None, request_timeout: float | None
) -> dict[str, str]:
    """Portkey's per-client extras: a trace id, metadata (JSON) and the gateway's request timeout (ms)."""
    headers = {}
    if trace_id is not None:
        headers["x-portkey-trace-id"] = trace_id
    if metadata is not None:
        headers["x-portkey-metadata"] = json.dumps(dict(metadata))
    if request_timeout is not None:
        if request_timeout <= 0:
            raise ValueError("request_timeout must be a positive number of seconds")
        headers["x-portkey-request-timeout"] = str(round(request_timeout * 1000))
    return headers
