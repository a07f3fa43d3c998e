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


# The headers (lower case) each alternative adds to the Portkey key.
ADDS: dict[Alternative, frozenset[str]] = {
    Alternative.VIRTUAL_KEY: frozenset({headers.VIRTUAL_KEY}),
    Alternative.PROVIDER: frozenset({headers.AUTHORIZATION, headers.PROVIDER}),
    Alternative.CONFIG: frozenset({headers.CONFIG}),
    Alternative.CUSTOM_HOST: frozenset({headers.AUTHORIZATION, headers.PROVIDER, headers.CUSTOM_HOST}),
}
