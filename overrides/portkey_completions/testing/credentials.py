"""The credentials a test sends, defined once: the `portkey_stub` fixture's clients and the project's own suite.

A server without a store takes any non-empty key, so these only need to be recognisable in a
journal entry or a log line. Each auth alternative of the spec is named here twice: as the
headers a raw HTTP client sends (`headers`), and as the typed client's keyword arguments (`ARGS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from portkey_completions.core import headers as portkey
from portkey_completions.core.alternatives import Alternative

API_KEY = "pk-test"  # x-portkey-api-key, on every request
VIRTUAL_KEY = "vk-test"
PROVIDER = "openai"
BEARER = "sk-test"  # the upstream's key, where an alternative carries one
CONFIG: Mapping[str, str] = {"provider": PROVIDER, "api_key": BEARER}

# The typed client's keyword arguments for each alternative (a custom host also needs its URL).
ARGS: Mapping[Alternative, Mapping[str, Any]] = {
    Alternative.VIRTUAL_KEY: {"virtual_key": VIRTUAL_KEY},
    Alternative.PROVIDER: {"provider": PROVIDER, "authorization": BEARER},
    Alternative.CONFIG: {"config": dict(CONFIG)},
    Alternative.CUSTOM_HOST: {"provider": PROVIDER, "authorization": BEARER},
}


def headers(alternative: str, custom_host: str | None = None) -> dict[str, str]:
    """The headers of one alternative, the API key included; `custom_host` is the URL the custom host names."""
    alternative = Alternative(alternative)
    sent = {portkey.API_KEY: API_KEY}
    if alternative == Alternative.VIRTUAL_KEY:
        return {**sent, portkey.VIRTUAL_KEY: VIRTUAL_KEY}
    if alternative == Alternative.CONFIG:
        return {**sent, portkey.CONFIG: json.dumps(CONFIG)}
    sent = {**sent, portkey.AUTHORIZATION: portkey.authorization(BEARER), portkey.PROVIDER: PROVIDER}
    if alternative == Alternative.CUSTOM_HOST:
        if custom_host is None:
            raise ValueError("the custom host alternative names a URL: pass custom_host")
        sent[portkey.CUSTOM_HOST] = custom_host
    return sent
