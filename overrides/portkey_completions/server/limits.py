"""A cap on request body size, enforced before anything reads the body into memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.call.errors import ServerAPIError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """Refuse bodies over `max_body_bytes` with 413, by Content-Length or, for chunked bodies, as they arrive."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> ServerAPIError:
        return ServerAPIError(
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
            receive = replay_body(body, receive)
        elif not declared.isdigit():
            raise ServerAPIError(400, f"Invalid Content-Length header: {declared!r}.")
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


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read (once, whole), then hands on to the real one."""
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


class SlowBody(BaseException):
    """The client stopped sending its body."""


class _Watch:
    """Coarse deadlines for body reads: one ticking timer per deadline and event loop, not one per receive.

    asyncio.timeout arms and cancels a timer handle per use, about 4.6 us under uvloop: the
    largest cost of a small request's way in. Here a read costs a dict entry; every RESOLUTION
    seconds (only while reads are waiting) a tick cancels the tasks whose deadline has passed.
    A deadline is met to within RESOLUTION.
    """

    RESOLUTION = 0.1

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: dict[asyncio.Task[object], float] = {}
        self.expired: set[asyncio.Task[object]] = set()
        self.ticking = False

    def arm(self, task: asyncio.Task[object], seconds: float) -> None:
        self.deadlines[task] = self.loop.time() + seconds
        if not self.ticking:
            self.ticking = True
            self.loop.call_later(self.RESOLUTION, self._tick)

    def disarm(self, task: asyncio.Task[object]) -> None:
        self.deadlines.pop(task, None)

    def fired(self, task: asyncio.Task[object]) -> bool:
        """Whether a cancellation of the task came from this watch (answered once)."""
        if task not in self.expired:
            return False
        self.expired.discard(task)
        return True

    def _tick(self) -> None:
        now = self.loop.time()
        for task, deadline in list(self.deadlines.items()):
            if deadline <= now:
                del self.deadlines[task]
                self.expired.add(task)
                task.cancel()  # the task waits in `BodyDeadline.receive`, which turns this into SlowBody
        self.ticking = bool(self.deadlines)
        if self.ticking:
            self.loop.call_later(self.RESOLUTION, self._tick)


class BodyDeadline:
    """Every wait for the next piece of a request body, bounded by `seconds` (RequestGuard's, and the fast path's)."""

    def __init__(self, seconds: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.seconds = seconds
        self._watch: _Watch | None = None

    def _watching(self, loop: asyncio.AbstractEventLoop) -> _Watch:
        if self._watch is None or self._watch.loop is not loop:  # a test client runs its own loop
            self._watch = _Watch(loop)
        return self._watch

    async def receive(self, receive: Receive) -> Message:
        """The next message; SlowBody when nothing came for `seconds`."""
        task = asyncio.current_task()
        assert task is not None
        # The task's loop, not get_running_loop(): each of those is a getpid() system call (CPython 3.11).
        watch = self._watching(task.get_loop())
        watch.arm(task, self.seconds)
        try:
            return await receive()
        except asyncio.CancelledError:
            if not watch.fired(task):
                raise
            if task.uncancel() > 0:  # cancelled by someone else as well (a shutdown): that wins
                raise
            raise SlowBody from None
        finally:
            watch.disarm(task)

    def error(self) -> ServerAPIError:
        return ServerAPIError(
            408,
            f"The request body stopped arriving: nothing for {self.seconds:g} s.",
            type="timeout_error",
            code="request_timeout",
        )


class RequestGuard:
    """Refuse what would tie the server up or trip it later: headers over 64 KiB (431), a Portkey
    header (x-portkey-*, Authorization) that is not UTF-8 (400), and a body that stalls (408).

    A slow upload (slowloris) holds a connection open at almost no cost to the client; every
    wait for the next piece of a body is bounded by `body_timeout`. Once the body is in, the
    receive channel is left alone (a streaming response waits on it for the client's disconnect).
    The fast path, outside this layer, makes the same checks itself (`headers_fit`, `BodyDeadline`).
    """

    def __init__(self, app: ASGIApp, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.deadline = BodyDeadline(body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size, garbled = _read_headers(scope["headers"])
        if size > MAX_HEADER_BYTES:
            error = ServerAPIError(
                431, f"The request headers are {size} bytes; this server takes at most {MAX_HEADER_BYTES}."
            )
            await error.response()(scope, receive, send)
            return
        if garbled is not None:
            message = f"The {garbled} header is not valid UTF-8."
            error = ServerAPIError(400, message, param=garbled, code="invalid_header")
            await error.response()(scope, receive, send)
            return
        body_done = False
        started = False
        deadline = self.deadline

        async def receiving() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            message = await deadline.receive(receive)
            if message["type"] != "http.request" or not message.get("more_body"):
                body_done = True
            return message

        def sending(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: it hands back the inner send's, one frame less per message.
            nonlocal started
            started = started or message["type"] == "http.response.start"
            return send(message)

        try:
            await self.app(scope, receiving, sending)
        except SlowBody:
            if not started:
                await deadline.error().response()(scope, receive, send)


def headers_fit(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the headers pass RequestGuard's checks (size, UTF-8): the fast path, outside it, asks this."""
    size, garbled = _read_headers(headers)
    return size <= MAX_HEADER_BYTES and garbled is None


def _read_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int, str | None]:
    """The headers' size, and the first header this server reads whose value is not UTF-8 (it
    would be read as mojibake), in one pass."""
    size = 0
    garbled = None
    for name, value in headers:
        size += len(name) + len(value)
        if garbled is not None or value.isascii() or not (name.startswith(b"x-portkey-") or name == b"authorization"):
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            garbled = name.decode("latin-1")
    return size, garbled
