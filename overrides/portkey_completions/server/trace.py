"""Every answer under /v1 carries Portkey's response headers; a plain OpenAI answer carries none.

portkey-ai's SDKs retry a 5xx themselves unless the answer carries `x-portkey-trace-id`, the sign
that a Portkey gateway answered (and did its own retrying). Without it, a test of "my code handles
a 500" sees the SDK's retry succeed behind its back. So every answer, whichever layer made it
(connexion's refusals, the fast path, scenario answers, gateway errors), gets the trace id (the
caller's, or a new one), a retry count and the cache status, where the gateway has not set them.

In `--openai-compatible` mode a plain OpenAI request (no `x-portkey-api-key`) is answered as an
OpenAI upstream answers, with no `x-portkey-*` header: a Portkey gateway in front of this server
would otherwise merge ours into its own (`x-portkey-provider: stub, openai`).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.core import headers as portkey
from portkey_completions.core import spec

# Trace ids: unique per process without a system call per request.
_PREFIX = secrets.token_hex(10)
_count = itertools.count()

_TRACE = portkey.TRACE_ID.encode()
_API_KEY = portkey.API_KEY.encode()
_OURS = b"x-portkey-"


def new_trace_id() -> str:
    return f"{_PREFIX}-{next(_count):012x}"


def stamped(raw: list[tuple[bytes, bytes]], trace: bytes | None, plain: bool) -> list[tuple[bytes, bytes]]:
    """An answer's headers as they leave: Portkey's added where missing, or (`plain`) none of them."""
    if plain:
        return [(n, v) for n, v in raw if not n.lower().startswith(_OURS)]
    if any(n.lower() == _TRACE for n, _ in raw):
        return raw  # the gateway has set them
    return [
        *raw,
        (_TRACE, trace or new_trace_id().encode()),
        (b"x-portkey-retry-attempt-count", b"0"),
        (b"x-portkey-cache-status", b"DISABLED"),
    ]


class PortkeyHeaders:
    """The ASGI layer that sees connexion's path's answers under the base path (/v1) leave, and the request as sent.

    The fast path, outside it, stamps its own answers with `stamped`: between the two, every answer.
    """

    def __init__(self, app: ASGIApp, *, openai_compatible: bool = False) -> None:
        self.app = app
        self.openai_compatible = openai_compatible
        self.prefix = spec.base_path() + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        trace, keyed = None, False
        for name, value in scope["headers"]:
            if name == _TRACE:
                trace = value
            elif name == _API_KEY:
                keyed = True
        plain = self.openai_compatible and not keyed

        def sending(message: Message) -> Awaitable[None]:  # the inner send's awaitable: no frame of its own
            if message["type"] == "http.response.start":
                message = {**message, "headers": stamped(list(message.get("headers", ())), trace, plain)}
            return send(message)

        await self.app(scope, receive, sending)
