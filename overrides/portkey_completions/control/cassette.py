"""Record and replay: real answers kept in a cassette file, served again byte for byte.

`portkey-stub record --upstream URL --cassette FILE` is a proxy that forwards each completion
request to the upstream and keeps the request body and the answer: status, headers, and the body
as the chunks that arrived, each with its time since the request. `serve --replay FILE` answers a
request whose body equals a recorded one with that answer, at the recorded pace (or scaled).

The cassette is JSON. Chunks are text decoded with `surrogateescape`, so any bytes survive the
round trip (JSON keeps lone surrogates) and the replay is byte-identical.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from portkey_completions.call.errors import ServerAPIError
from portkey_completions.core import spec, untrusted

VERSION = 1
# Hop-by-hop and framing headers: the server that replays sets its own.
_NOT_KEPT = frozenset({"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"})
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "accept-encoding"})


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


class Cassette:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.interactions: list[dict[str, Any]] = []
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError(f"{self.path}: not a version {VERSION} cassette")
            self.interactions = list(data["interactions"])

    def add(self, interaction: dict[str, Any]) -> None:
        with self._lock:
            self.interactions.append(interaction)
            payload = json.dumps({"version": VERSION, "interactions": self.interactions}, indent=1)
            # Written whole and renamed: a recording stopped at any moment leaves a readable file.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
            os.replace(tmp, self.path)

    def find(self, body: Any) -> dict[str, Any]:
        """The first recorded answer to this exact body. Raises a 404 naming the closest recorded one."""
        key = canonical(body)
        for interaction in self.interactions:
            if canonical(interaction["request"]["body"]) == key:
                return interaction
        recorded = [canonical(i["request"]["body"]) for i in self.interactions]
        closest = difflib.get_close_matches(key, recorded, n=1, cutoff=0.0)
        hint = f" The closest recorded request is {closest[0][:500]}" if closest else " The cassette is empty."
        raise ServerAPIError(
            404,
            f"No recorded response in {self.path.name} matches this request body.{hint}",
            code="no_recorded_response",
        )


def replay(interaction: Mapping[str, Any], speed: float = 1.0) -> Response:
    """The recorded answer, chunk by chunk at the recorded times divided by `speed` (0: no waiting)."""
    answer = interaction["response"]
    headers = {k: v for k, v in answer["headers"].items() if k not in _NOT_KEPT}

    async def chunks() -> AsyncIterator[bytes]:
        started = time.monotonic()
        for at, text in answer["chunks"]:
            if speed > 0:
                wait = at / speed - (time.monotonic() - started)
                if wait > 0:
                    await asyncio.sleep(wait)
            yield _bytes(text)

    return StreamingResponse(chunks(), status_code=answer["status"], headers=headers)


def recorder(upstream: str, cassette: Cassette) -> Starlette:
    """A proxy to `upstream` that records every POST /v1/completions into the cassette."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0))
    target = upstream.rstrip("/") + "/completions"

    async def completions(request: Request) -> Response:
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k not in _NOT_FORWARDED}
        started = time.monotonic()
        try:
            response = await client.send(
                client.build_request("POST", target, content=raw, headers=headers), stream=True
            )
        except httpx.HTTPError as exc:
            return ServerAPIError(502, f"Could not reach the upstream at {upstream}: {exc}.").response()
        chunks: list[list[Any]] = []

        async def relay() -> AsyncIterator[bytes]:
            async for chunk in response.aiter_raw():
                chunks.append([round(time.monotonic() - started, 4), _text(chunk)])
                yield chunk

        async def keep() -> None:
            await response.aclose()
            try:
                body: Any = untrusted.loads(raw)
            except ValueError:
                body = _text(raw)
            kept = {k: v for k, v in response.headers.items() if k not in _NOT_KEPT}
            cassette.add(
                {
                    "request": {"body": body},
                    "response": {"status": response.status_code, "headers": kept, "chunks": chunks},
                }
            )

        kept = {k: v for k, v in response.headers.items() if k not in _NOT_KEPT}
        return StreamingResponse(
            relay(), status_code=response.status_code, headers=kept, background=BackgroundTask(keep)
        )

    return Starlette(routes=[Route(spec.base_path() + "/completions", completions, methods=["POST"])])
