"""A cap on request body size, enforced before anything reads the body into memory."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import APIError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """Refuse bodies over `max_body_bytes` with 413, by Content-Length or, for chunked bodies, as they arrive."""

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
        if declared is None:
            # A chunked body: connexion only reads bodies that declare a length, so
            # read it here (bounded by the limit) and hand it on with its length.
            body = await self._read_bounded(receive)
            scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(len(body)).encode())]}
            receive = _replay(body, receive)
        elif not declared.isdigit():
            raise APIError(400, f"Invalid Content-Length header: {declared!r}.")
        elif int(declared) > self.max_body_bytes:
            raise self._too_large()
        await self.app(scope, receive, send)

    async def _read_bounded(self, receive: Receive) -> bytes:
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                raise self._too_large()
            more = message.get("more_body", False)
        return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


DEFAULT_BODY_TIMEOUT = 10.0
MAX_HEADER_BYTES = 64 * 1024


class _SlowBody(BaseException):
    """The client stopped sending its body."""


class PaceMiddleware:
    """Refuse what would tie the server up or trip it later: headers over 64 KiB (431), a Portkey
    header (x-portkey-*, Authorization) that is not UTF-8 (400), and a body that stalls (408).

    A slow upload (slowloris) holds a connection open at almost no cost to the client; every
    wait for the next piece of a body is bounded by `body_timeout`. Once the body is in, the
    receive channel is left alone (a streaming response waits on it for the client's disconnect).
    """

    def __init__(self, app: ASGIApp, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = sum(len(k) + len(v) for k, v in scope["headers"])
        if size > MAX_HEADER_BYTES:
            error = APIError(
                431, f"The request headers are {size} bytes; this server takes at most {MAX_HEADER_BYTES}."
            )
            await error.response()(scope, receive, send)
            return
        garbled = _garbled_header(scope["headers"])
        if garbled is not None:
            error = APIError(400, f"The {garbled} header is not valid UTF-8.", param=garbled, code="invalid_header")
            await error.response()(scope, receive, send)
            return
        body_done = False
        started = False

        async def receiving() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                # asyncio.timeout, not wait_for: wait_for wraps every receive in a task of its own.
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise _SlowBody from None
            if message["type"] != "http.request" or not message.get("more_body"):
                body_done = True
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except _SlowBody:
            if not started:
                error = APIError(
                    408,
                    f"The request body stopped arriving: nothing for {self.body_timeout:g} s.",
                    type="timeout_error",
                    code="request_timeout",
                )
                await error.response()(scope, receive, send)


def _garbled_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The first header this server reads whose value is not UTF-8 (it would be read as mojibake)."""
    for name, value in headers:
        if value.isascii() or not (name.startswith(b"x-portkey-") or name == b"authorization"):
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("latin-1")
    return None
