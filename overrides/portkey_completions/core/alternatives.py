"""The spec's four auth alternatives, named once.

Every alternative needs `x-portkey-api-key`; each adds its own headers. The server routes by
them, the client builds them, the journal notes them: all by these names.
"""

from __future__ import annotations

from enum import StrEnum

from . import headers


class Alternative(StrEnum):
    VIRTUAL_KEY = "virtual_key"
    PROVIDER = "provider"
    CONFIG = "config"
    CUSTOM_HOST = "custom_host"

    @classmethod
    def for_headers(cls, added: frozenset[str]) -> Alternative | None:
        """The alternative that adds exactly these headers, if any."""
        return next((a for a in cls if ADDS[a] == added), None)


ANONYMOUS = "anonymous"  # the name of a requirement of no scheme: a spec with no security, or OpenAPI's `{}`


def name(required: frozenset[str], common: frozenset[str]) -> str:
    """The stable name of a requirement of these headers, beside the `common` ones every requirement has.

    Portkey's name for one of Portkey's four; else the headers it adds, joined by ` + ` (one the spec
    gained); else its own headers so joined (a spec of one requirement: `authorization`); and
    `anonymous` for a requirement of none. The server's journal and metrics and the client say it alike.
    """
    if not required:
        return ANONYMOUS
    added = required - common
    known = Alternative.for_headers(added) if headers.API_KEY in common else None
    return str(known) if known is not None else " + ".join(sorted(added or required))


# The headers (lower case) each alternative adds to the Portkey key.
ADDS: dict[Alternative, frozenset[str]] = {
    Alternative.VIRTUAL_KEY: frozenset({headers.VIRTUAL_KEY}),
    Alternative.PROVIDER: frozenset({headers.AUTHORIZATION, headers.PROVIDER}),
    Alternative.CONFIG: frozenset({headers.CONFIG}),
    Alternative.CUSTOM_HOST: frozenset({headers.AUTHORIZATION, headers.PROVIDER, headers.CUSTOM_HOST}),
}
