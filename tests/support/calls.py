"""Posting a completion, in-process or over HTTP, and a gateway's store file: the helpers every test tier uses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from . import AUTH, BODY, COMPLETIONS


def post(
    target: Any,
    body: Any = BODY,
    *,
    auth: Mapping[str, str] = AUTH,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 30,
) -> httpx.Response:
    """POST a completion request and return the answer, whatever its status.

    Args:
        target: A test client (in-process), or a server's base URL (`http://…`, `…/ns/<name>` included).
        body: The JSON body (None: none); ignored when `content` is given.
        auth: The credentials (an auth alternative's headers); `headers` go on top of them.
        content: Raw bytes to send instead of JSON.
    """
    sent = {**auth, **(headers or {})}
    json = None if content is not None else body
    if isinstance(target, str):
        return httpx.post(target + COMPLETIONS, json=json, content=content, headers=sent, timeout=timeout)
    return target.post(COMPLETIONS, json=json, content=content, headers=sent)


def complete(target: Any, body: Mapping[str, Any] = BODY, **patch: Any) -> dict[str, Any]:
    """`body` with `patch` on top, posted: the 200 answer's JSON (anything else fails the test)."""
    response = post(target, {**body, **patch})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def store_file(directory: Path, data: Mapping[str, Any]) -> str:
    """A gateway's store file (YAML) in `directory`, for `portkey-stub serve --store`."""
    path = directory / "store.yaml"
    path.write_text(yaml.safe_dump(dict(data)), encoding="utf-8")
    return str(path)
