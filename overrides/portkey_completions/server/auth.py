"""connexion's side of the spec's auth alternatives: the check functions its security layer calls.

connexion enforces the alternatives on its path; which one a request matched, and why a refused
one is refused, is the call record's (`call.security`), matched once at the door.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.security import NO_VALUE, ApiKeySecurityHandler, BearerSecurityHandler

from portkey_completions.call.security import Alternatives

from .errors import connexion_response


def _present(value: str) -> object:
    # An empty header is no credential at all, not a wrong one: NO_VALUE lets
    # connexion try the next alternative, and refuse with 401 if none is left.
    return {"value": value} if value.strip() else NO_VALUE


class _ApiKeyHandler(ApiKeySecurityHandler):
    def _resolve_func(self, security_scheme: Mapping[str, Any]) -> Callable[..., Any]:
        return super()._resolve_func(security_scheme) or _present


class _BearerHandler(BearerSecurityHandler):
    def _resolve_func(self, security_scheme: Mapping[str, Any]) -> Callable[..., Any]:
        return super()._resolve_func(security_scheme) or _present


# Passed to connexion as `security_map`: the published spec names no
# x-apikeyInfoFunc, so the check functions are bound here, by scheme type.
SECURITY_MAP = {"apiKey": _ApiKeyHandler, "bearer": _BearerHandler}


def refusing(alternatives: Alternatives) -> Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]:
    """connexion's handler of its 401s: the refusal says what the request lacks, in the OpenAI shape."""

    async def refuse(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        return connexion_response(alternatives.refusal(request.headers))

    return refuse
