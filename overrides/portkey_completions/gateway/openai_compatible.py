"""`--openai-compatible`: also answer plain OpenAI requests, so this server can be a gateway's upstream.

What such a request stands for is `core.headers.openai_compatible`; this layer adds those
headers before connexion's security checks see the request.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from portkey_completions.core import headers as portkey
from portkey_completions.server import notes


class OpenAICompatible:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            added = portkey.openai_compatible(Headers(scope=scope))
            if added:
                notes.note(alternative=portkey.OPENAI_COMPATIBLE)
                raw = [(name.encode(), value.encode()) for name, value in added]
                scope = {**scope, "headers": [*scope["headers"], *raw]}
        await self.app(scope, receive, send)
