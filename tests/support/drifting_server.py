"""A drifting endpoint for `verify`'s tests: the project's own server, with one promise broken on request.

    python tests/support/drifting_server.py PORT API_KEY VIRTUAL_KEY

It answers as the project's gateway does (a store with the API key and the virtual key, which goes
to the stub), except that the header `x-drift: MODE` breaks one thing in the answer, a mode a
check of `verify` must find by name (`leak` echoes the caller's API key into an error's code).
GET /__count says how many completion requests came.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portkey_completions.app import create_app
from portkey_completions.core.headers import STUB
from portkey_completions.gateway.store import Store, VirtualKey

COUNT = [0]


def completion(body: dict[str, Any], mode: str) -> dict[str, Any]:
    choice = body["choices"][0] if body.get("choices") else {}
    if mode == "body":
        del body["created"]
    elif mode == "usage":
        body["usage"]["total_tokens"] += 1
    elif mode == "max-tokens":
        body["usage"]["completion_tokens"] += 99
        body["usage"]["total_tokens"] += 99
    elif mode == "finish":
        choice["finish_reason"] = "stop"
    elif mode == "index":
        choice["index"] = 5
    elif mode == "logprobs" and choice.get("logprobs"):
        choice["logprobs"]["tokens"] = choice["logprobs"]["tokens"][:-1]
    elif mode == "field":
        body["service_tier"] = "default"
    return body


def error(body: dict[str, Any], mode: str, api_key: str) -> dict[str, Any]:
    if mode == "error-shape":
        return {"message": body["error"]["message"]}
    if mode == "error-kind":
        body["error"]["code"] = "something_else"
    if mode == "leak":  # an endpoint that echoes the caller's key: verify must not print it
        body["error"]["code"] = f"bad key {api_key}"
    return body


def chunk(data: dict[str, Any], mode: str, first: bool) -> dict[str, Any]:
    if mode == "stream-text" and first and data.get("choices"):
        data["choices"][0]["text"] = "drifted" + data["choices"][0]["text"]
    elif mode == "chunk":
        data["service_tier"] = "default"
    return data


class Drift:
    """Buffers each completion answer, and breaks it as the request's `x-drift` asks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/__count":
            await _json(send, 200, {"count": COUNT[0]}, [])
            return
        if scope["method"] == "POST":
            COUNT[0] += 1
        mode = dict(scope["headers"]).get(b"x-drift", b"").decode()
        start: Message = {}
        body = b""

        async def keep(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
            else:
                body += message.get("body", b"")

        await self.app(scope, receive, keep)
        status, headers = start["status"], [h for h in start["headers"] if h[0] != b"content-length"]
        if mode == "status" and status == 200:
            status = 202
        if mode == "header":
            headers.append((b"x-portkey-drifted", b"yes"))
        if dict(headers).get(b"content-type", b"").startswith(b"text/event-stream"):
            body = _stream(body, mode)
        elif body:
            parsed = json.loads(body)
            api_key = dict(scope["headers"]).get(b"x-portkey-api-key", b"").decode()
            parsed = error(parsed, mode, api_key) if status >= 400 else completion(parsed, mode)
            body = json.dumps(parsed).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _stream(body: bytes, mode: str) -> bytes:
    out = []
    for i, event in enumerate(e for e in body.split(b"\n\n") if e):
        data = event.removeprefix(b"data: ")
        if data == b"[DONE]":
            if mode != "done":
                out.append(event)
            continue
        out.append(b"data: " + json.dumps(chunk(json.loads(data), mode, i == 0)).encode())
    return b"".join(e + b"\n\n" for e in out)


async def _json(send: Send, status: int, value: Any, headers: list[tuple[bytes, bytes]]) -> None:
    raw = json.dumps(value).encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]}
    )
    await send({"type": "http.response.body", "body": raw})


if __name__ == "__main__":
    port, api_key, virtual_key = sys.argv[1], sys.argv[2], sys.argv[3]
    app = create_app(store=Store(api_keys=(api_key,), virtual_keys={virtual_key: VirtualKey(STUB)}))
    uvicorn.run(Drift(app), host="127.0.0.1", port=int(port), log_level="warning")
