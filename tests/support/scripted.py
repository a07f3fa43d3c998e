"""The scripted upstream's client: what tests/support/scripted_server.py answers next, and what it received."""

from __future__ import annotations

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
