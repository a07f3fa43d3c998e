"""The scripted upstream's client: what tests/support/scripted_server.py answers next, and what it received."""

from __future__ import annotations

import json
from typing import Any

import httpx


class Scripted:
    """One scripted upstream at `url` (its root; the API is at `url/v1`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def script(self, answers: list[dict[str, Any]]) -> None:
        """The answers to its next requests, in order (the server's docstring lists the forms); clears the log."""
        httpx.post(f"{self.url}/__script", json=answers).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        """Every request it received since the last `script`: time, headers, body (and, for streams, events sent)."""
        entries: list[dict[str, Any]] = httpx.get(f"{self.url}/__log").json()
        return entries


# What a scripted upstream answers with, written once for the tests that script it.


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def sse(*chunks: dict[str, Any], done: bool = True) -> list[str]:
    return [f"data: {json.dumps(c)}" for c in chunks] + (["data: [DONE]"] if done else [])


def text_chunk(text: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "cmpl-s",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
    }
