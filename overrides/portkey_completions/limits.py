"""A cap on request body size, enforced before anything reads the body into memory."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import APIError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """Refuse bodies over `max_body_bytes` with 413, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> APIError:
        return APIError(
            413,
            f"The request body is larger than this server's limit of {self.max_body_bytes} bytes.",
            code="request_too_large",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise APIError(400, f"Invalid Content-Length header: {declared!r}.")
            if int(declared) > self.max_body_bytes:
                raise self._too_large()

        # Content-Length may be absent (chunked) or a lie: count what arrives.
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)
