"""What the journal never keeps: secrets in request headers and in Portkey configs.

Applied when an entry leaves the process (a journal read, a write to Redis), not per request.
"""

from __future__ import annotations

import json
from typing import Any

from portkey_completions.core import untrusted

SECRET_HEADERS = frozenset({"authorization", "x-portkey-api-key", "x-portkey-virtual-key", "cookie", "x-admin-token"})


def redact(value: str) -> str:
    return "***" + value[-4:] if len(value) > 8 else "***"


def _redact_config(value: str) -> str:
    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (redact(str(v)) if k == "api_key" else scrub(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        return node

    if not value.lstrip().startswith(("{", "[")):
        return value  # a saved config's id
    try:
        return json.dumps(scrub(untrusted.loads(value)))
    except (ValueError, RecursionError):
        # JSON that cannot be read, or too deep to scrub, may still hold a key: none of it is kept.
        return redact(value)


def headers_of(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header pairs as a dict of lower-case names, secrets redacted."""
    headers = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name in SECRET_HEADERS:
            text = redact(text)
        elif name == "x-portkey-config":
            text = _redact_config(text)
        headers[name] = text
    return headers
