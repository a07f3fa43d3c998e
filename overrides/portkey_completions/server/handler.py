"""The createCompletion operation bound for connexion: its validated body into the call record, handed on.

connexion's path ends here; the fast path reaches the same `handle` directly. Either way the
rooms below get the call record the door made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from connexion import request as current_request
from starlette.responses import Response

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import Call

from .door import call_of

Handle = Callable[[Call], Awaitable[Response]]


def operations(handle: Handle) -> dict[str, Callable[..., Awaitable[Response]]]:
    """operationId -> handler."""

    async def create_completion(body: Any) -> Response:
        if not isinstance(body, dict):
            # No Content-Type at all: connexion validates nothing and hands the bytes on.
            raise ServerAPIError(415, "Unsupported Content-Type: send the body as application/json.")
        call = call_of(current_request.scope)
        call.body = body
        response = await handle(call)
        # The door writes them on every answer; written here too (the same writing), connexion's
        # response validation (--validate-responses) sees the headers the spec may require.
        response.raw_headers = stamped(response.raw_headers, call)
        return response

    return {"createCompletion": create_completion}
