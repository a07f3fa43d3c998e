"""The request journal: every /v1 request, bounded, with secrets redacted, kept by the state (`state.py`).

An ASGI middleware opens an entry per request (method, path, headers, body, status, timings,
streamed events); the layers inside add what only they know (the auth alternative, the route,
the scenario rule) through `server.notes.note()`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.core import untrusted
from portkey_completions.server import namespaces, notes

from .state import Memory, State

SECRET_HEADERS = frozenset({"authorization", "x-portkey-api-key", "x-portkey-virtual-key", "cookie", "x-admin-token"})
MAX_BODY = 64 * 1024


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
    headers = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name in SECRET_HEADERS:
            text = redact(text)
        elif name == "x-portkey-config":
            text = _redact_config(text)
        headers[name] = text
    return headers


class Journal:
    """The journal's entries, kept by the state: this process's memory, or Redis for a fleet."""

    def __init__(self, state: State | None = None) -> None:
        self.state: State = state or Memory()

    async def read(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The entries of `namespace`, oldest first; None: every entry."""
        # Bodies are kept raw and parsed when someone reads the journal, not on every request.
        return [{**e, "body": _body(e["body"])} for e in await self.state.entries(namespace)]

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the entries of `namespace`; None: every entry."""
        await self.state.forget(namespace)

    def open(self, scope: Scope) -> dict[str, Any]:
        entry = {
            "id": None,
            "time": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "headers": headers_of(scope["headers"]),
            "body": None,
            "alternative": None,
            "route": None,
            "provider": None,
            "rule": None,
            "status": None,
            "events": 0,
            "ttfb_ms": None,
            "duration_ms": None,
            "done": False,
            "namespace": namespaces.current.get(),
            "worker": self.state.worker,
        }
        self.state.opened(entry)
        return entry


class JournalMiddleware:
    """Journals every request under /v1/; everything else passes untouched."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        entry = self.journal.open(scope)
        started = time.perf_counter()
        body = bytearray()
        streaming = False
        state = self.journal.state

        def finish() -> None:
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry["done"] = True

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_BODY:
                body.extend(message.get("body", b"")[: MAX_BODY - len(body)])
                if not message.get("more_body"):
                    entry["body"] = bytes(body)
            return message

        async def sending(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["ttfb_ms"] = round((time.perf_counter() - started) * 1000, 3)
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = content_type.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body":
                if streaming:
                    entry["events"] += message.get("body", b"").count(b"\n\n")
                if not message.get("more_body"):
                    # Journaled before the caller has the whole answer: a test that reads the
                    # journal next, from any process of the fleet, finds the entry.
                    finish()
                    await state.closed(entry)
            await send(message)

        try:
            with notes.recording(entry):
                await self.app(scope, receiving, sending)
        finally:
            if not entry["done"]:  # the answer never finished (the caller left): journaled as it stands
                finish()
                task = asyncio.get_running_loop().create_task(state.closed(entry))
                self._closing.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._closing.discard)


def _body(raw: bytes | str | None) -> Any:
    # Standard JSON only: a body with NaN is kept as its text, or the journal could not be sent.
    if raw is None:
        return None
    try:
        return untrusted.loads(raw, standard=True)
    except ValueError:
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
