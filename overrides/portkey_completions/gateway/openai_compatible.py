"""`--openai-compatible`: also answer plain OpenAI requests, so this server can be a gateway's upstream.

A gateway forwards only the body and `Authorization: Bearer …`, never Portkey's headers (and the
spec requires `x-portkey-api-key`). In this mode such a request is read as the provider
alternative naming the built-in stub: the bearer stands in as the Portkey key.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .store import STUB


class OpenAICompatible:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            kind, _, token = headers.get("authorization", "").partition(" ")
            if "x-portkey-api-key" not in headers and kind.lower() == "bearer" and token.strip():
                added = [(b"x-portkey-api-key", token.strip().encode()), (b"x-portkey-provider", STUB.encode())]
                scope = {**scope, "headers": [*scope["headers"], *added]}
        await self.app(scope, receive, send)
