"""The request journal: every /v1 request, bounded and in memory, with secrets redacted.

An ASGI middleware opens an entry per request (method, path, headers, body, status, timings,
streamed events); the layers inside add what only they know (the auth alternative, the route,
the scenario rule) through `server.notes.note()`.
"""

from __future__ import annotations

import collections
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.core import untrusted
from portkey_completions.server import namespaces, notes

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
    def __init__(self, size: int = 1000) -> None:
        self.entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._ids = itertools.count(1)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        entries = list(self.entries)
        for entry in entries:
            # Bodies are kept raw and parsed when someone reads the journal, not on every request.
            if isinstance(entry["body"], bytes):
                entry["body"] = _body(entry["body"])
        return iter(entries)

    def read(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The entries of `namespace`, oldest first; None: every entry."""
        return [e for e in self if namespace is None or e["namespace"] == namespace]

    def clear(self, namespace: str | None = None) -> None:
        """Forget the entries of `namespace`; None: every entry."""
        if namespace is None:
            self.entries.clear()
            return
        kept = [e for e in self.entries if e["namespace"] != namespace]
        self.entries.clear()
        self.entries.extend(kept)

    def open(self, scope: Scope) -> dict[str, Any]:
        return {
            "id": next(self._ids),
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
        }


class JournalMiddleware:
    """Journals every request under /v1/; everything else passes untouched."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        entry = self.journal.open(scope)
        self.journal.entries.append(entry)
        started = time.perf_counter()
        body = bytearray()
        streaming = False

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
            elif message["type"] == "http.response.body" and streaming:
                entry["events"] += message.get("body", b"").count(b"\n\n")
            await send(message)

        try:
            with notes.recording(entry):
                await self.app(scope, receiving, sending)
        finally:
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry["done"] = True


def _body(raw: bytes) -> Any:
    # Standard JSON only: a body with NaN is kept as its text, or the journal could not be sent.
    try:
        return untrusted.loads(raw, standard=True)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
