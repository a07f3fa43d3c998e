"""What `make robustness` (robustness.py) shares between its sections: the constants, a row, the requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from benchkit import COMPLETIONS

from portkey_completions.core import sse
from portkey_completions.testing.admin_client import AdminClient

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = ROOT / "tests" / "support" / "scripted_server.py"
MODEL = "gpt-3.5-turbo-instruct"
BODY = {"model": MODEL, "prompt": "Say this is a test", "max_tokens": 8}
KEY = {"x-portkey-api-key": "pk-robust"}
VK = {**KEY, "x-portkey-virtual-key": "vk-robust"}
BODY_TIMEOUT = 2.0
UPSTREAM_TIMEOUT = 1.0


@dataclass
class Row:
    section: str
    name: str
    figure: str
    holds: bool


# -- helpers ----------------------------------------------------------------------------------------


def post(url: str, content: bytes, headers: dict[str, Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{url}{COMPLETIONS}", content=content, headers={"content-type": "application/json", **headers},
        timeout=timeout,
    )  # fmt: skip


def refused(response: httpx.Response, status: int, code: str | None = None) -> bool:
    """The exact status, in the OpenAI error shape (and the code, when one is expected)."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    shape = set(error) == {"message", "type", "param", "code"}
    return response.status_code == status and shape and (code is None or error["code"] == code)


def stream_data(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """The data of every event of a stream, which must end cleanly."""
    with httpx.stream(
        "POST", f"{url}{COMPLETIONS}", json={**body, "stream": True}, headers=headers, timeout=30
    ) as response:
        return list(sse.iter_data(response.iter_raw()))


def last_error_code(events: list[str]) -> str | None:
    try:
        return json.loads(events[-1])["error"]["code"] if events else None
    except (ValueError, KeyError, TypeError):
        return None


def health(url: str) -> dict[str, Any]:
    with AdminClient.at(url) as admin:
        return admin.health()
