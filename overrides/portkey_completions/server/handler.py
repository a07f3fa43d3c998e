"""The spec's operations bound for connexion: each validated body into the call record, handed on.

connexion's path ends here; the fast path reaches the same `handle` directly for createCompletion.
Either way the rooms below get the call record the door made. An operation of this table the spec
does not hold (overrides/operations.yaml does not list it) is simply never bound.

A handler gets the door's exchange as an argument, `exchange`: connexion hands a handler each
entry of the request's context whose name it takes, and `ExchangeArgument` puts the exchange
there. So nothing here reads connexion's `request` context variable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.call.portkey_headers import stamped
from portkey_completions.call.record import Call, Outcome
from portkey_completions.core import headers as portkey
from portkey_completions.core import spec
from portkey_completions.core.headers import STUB
from portkey_completions.gateway import prompts
from portkey_completions.gateway.store import Stores

from .door import EXCHANGE
from .exchange import Exchange
from .validation import refuse

Handle = Callable[[Call], Awaitable[Outcome]]


def operations(handle: Handle, stores: Stores) -> dict[str, Callable[..., Awaitable[Response]]]:
    """operationId -> handler."""

    async def create_completion(body: Any, exchange: Exchange) -> Response:
        call = exchange.call
        call.body = _json(body)  # the edge's last word on the call: handed in from here on
        return _answered(exchange, await handle(call))

    async def create_prompt_completion(body: Any, exchange: Exchange, **path: str) -> Response:
        """Portkey's prompt completions: the saved prompt, filled in, run as a completion (gateway.prompts)."""
        request = _json(body)
        call = exchange.call
        store = stores.current()
        store.admit(call.headers.get(portkey.API_KEY, ""))  # a stranger learns nothing of the prompts
        prompt_id = path["promptId"]
        prompt = store.prompts.get(prompt_id)
        if prompt is None:
            raise ServerAPIError(
                404,
                f"Prompt {prompt_id!r} not found: this server's prompts are its store's `prompts`.",
                param="promptId",
                code="prompt_not_found",
            )
        call.body = prompt.completion(request)
        refuse(spec.validator("CreateCompletionRequest"), call.body)  # the prompt's and the request's fields, together
        call.via = prompt.virtual_key or STUB
        outcome = await handle(call)
        return _answered(exchange, outcome._replace(response=await prompts.answered(outcome.response)))

    return {"createCompletion": create_completion, "createPromptCompletion": create_prompt_completion}


class ExchangeArgument:
    """Puts the door's exchange in the request's connexion context, from which connexion passes it to the handler.

    Inside connexion, so only requests that reach a handler pay for it (the fast path never does).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = scope.get(EXCHANGE)
        if exchange is None:  # outside the base path: no call record, no handler of ours
            await self.app(scope, receive, send)
            return
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        context["exchange"] = exchange
        try:
            await self.app(scope, receive, send)
        finally:
            # The exchange holds the server's send, whose cycle holds this scope (door.py says why).
            del context["exchange"]


def _answered(exchange: Exchange, outcome: Outcome) -> Response:
    """The outcome handed to the door, and its response, with Portkey's headers written.

    The door writes them on every answer; written here too (the same writing), connexion's
    response validation (--validate-responses) sees the headers the spec may require.
    """
    response = exchange.answered(outcome)
    response.raw_headers = stamped(response.raw_headers, exchange.call, outcome.routed)
    return response


def _json(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        # No Content-Type at all: connexion validates nothing and hands the bytes on.
        raise ServerAPIError(415, "Unsupported Content-Type: send the body as application/json.")
    return body
