"""The spec's auth alternatives, as the headers each one sends.

In Portkey's spec every alternative needs `x-portkey-api-key` and adds its own headers. Which
combinations are alternatives is read from the effective spec, so a client is built for exactly
one of them, and a combination that is none of them fails here, before any request. A spec of
another shape works the same way: one with no security needs no credentials, a bearer-only one
`authorization` alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portkey_completions.core import alternatives, spec
from portkey_completions.core import headers as portkey
from portkey_completions.core.alternatives import Alternative

# The header each keyword argument sends; an alternative is known by the headers it adds.
KEYWORD_HEADERS: Mapping[str, str] = {
    "api_key": portkey.API_KEY,
    "virtual_key": portkey.VIRTUAL_KEY,
    "provider": portkey.PROVIDER,
    "authorization": portkey.AUTHORIZATION,
    "config": portkey.CONFIG,
    "custom_host": portkey.CUSTOM_HOST,
}
_BY_HEADER = {header: keyword for keyword, header in KEYWORD_HEADERS.items()}


def spec_requirements() -> list[frozenset[str]]:
    """The headers each of the spec's alternatives sends, in spec order (`frozenset()`: none needed)."""
    return [frozenset(header for _, header, _ in r) for r in spec.security("/completions", "post")]


def _keywords(headers: frozenset[str]) -> str:
    return " + ".join(sorted(_BY_HEADER.get(h, f"auth_headers[{h!r}]") for h in headers))


def describe(added: frozenset[str], common: frozenset[str] = frozenset({portkey.API_KEY})) -> str:
    """An alternative as a caller passes it, beside what every one needs: its name and keyword arguments."""
    name = Alternative.for_headers(added) if portkey.API_KEY in common else None
    args = _keywords(added)
    return f"{name}: {args}" if name else args


def choices(requirements: list[frozenset[str]]) -> str:
    """What the spec takes, in words that name only its own credentials."""
    if len(requirements) == 1:
        [only] = requirements
        return f"this API takes {_keywords(only)} only" if only else "this API takes no credentials"
    common = frozenset.intersection(*requirements)
    each = "; ".join(describe(r - common, common) or "nothing more" for r in requirements)
    return f"pass exactly one auth alternative ({each})" + (f", each with {_keywords(common)}" if common else "")


@dataclass(frozen=True)
class Credentials:
    """The credentials of one of the spec's auth alternatives, read from the effective spec.

    `auth_headers` carries the headers of an alternative no keyword names (the spec may gain one
    after this client was written): `make gen` is all it takes for the client to accept it.
    """

    api_key: str | None = None
    virtual_key: str | None = None
    provider: str | None = None
    authorization: str | None = None
    config: str | Mapping[str, Any] | None = None
    custom_host: str | None = None
    auth_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        requirements = spec_requirements()
        common = frozenset.intersection(*requirements)
        if self.api_key is None and portkey.API_KEY in common:
            raise ValueError("api_key is required: every Portkey request carries x-portkey-api-key")
        sent = self.sent()
        if sent not in requirements:
            raise ValueError(f"got {_keywords(sent) or 'nothing'}; {choices(requirements)}")
        for name in KEYWORD_HEADERS:
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                raise ValueError(f"{name} is empty")
        for header, value in self.auth_headers.items():
            if not str(value).strip():
                raise ValueError(f"auth_headers[{header!r}] is empty")

    def sent(self) -> frozenset[str]:
        """The auth headers these credentials send."""
        keywords = {KEYWORD_HEADERS[name] for name in KEYWORD_HEADERS if getattr(self, name) is not None}
        return frozenset(keywords | {h.lower() for h in self.auth_headers})

    @property
    def alternative(self) -> str:
        """The alternative's name, as the server's journal and metrics name it (`core.alternatives.name`)."""
        return alternatives.name(self.sent(), frozenset.intersection(*spec_requirements()))

    def headers(self) -> dict[str, str]:
        headers = {} if self.api_key is None else {"x-portkey-api-key": self.api_key}
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
        headers.update(self.auth_headers)
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
