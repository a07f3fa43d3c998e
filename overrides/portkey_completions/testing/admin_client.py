"""The admin API's client: a namespace's rules and journal over HTTP, whatever keeps them (memory, Redis).

The `portkey_stub` fixture hands one out (`portkey_stub.admin`); a test of a server it started
itself builds one from the server's URL:

    with AdminClient.at("http://127.0.0.1:8787", namespace="ci-42") as admin:
        rule = admin.add_rule({"match": {"prompt": "^Hi"}, "respond": {"status": 429}})
        ...
        assert admin.journal.entries[-1]["status"] == 429
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from portkey_completions.control.admin import PREFIX, TOKEN_HEADER


class AdminClient:
    """The admin API of one server, for one namespace (None: the requests outside any).

    Args:
        client: An httpx client whose base URL is the server's root (a TestClient works too).
        namespace: The namespace whose rules and journal these are.
        token: The server's `--admin-token`, for a caller that is not on loopback.
    """

    def __init__(self, client: httpx.Client, namespace: str | None = None, *, token: str | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = (f"/ns/{namespace}" if namespace else "") + PREFIX
        self.headers = {TOKEN_HEADER: token} if token else {}
        self.journal = Journal(self)
        self._owned = False

    @classmethod
    def at(cls, url: str, namespace: str | None = None, *, token: str | None = None) -> AdminClient:
        """A client of the server at `url` (its root, without /v1), with a connection pool of its own."""
        admin = cls(httpx.Client(base_url=url, timeout=10), namespace, token=token)
        admin._owned = True
        return admin

    def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        """The raw answer of `METHOD {prefix}/{path}`, for a test of the admin API's statuses."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, f"{self.prefix}/{path}", headers=headers, **kwargs)

    def call(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """`request`, raising: a rule the contract refuses is a ValueError with the server's message."""
        response = self.request(method, path, json=json, params=params)
        if response.status_code == 400:
            raise ValueError(response.json()["error"]["message"])
        response.raise_for_status()
        return response

    def add_rule(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a run-time rule (`{match, respond}`); returns it as the admin API lists it (with its id)."""
        rule: dict[str, Any] = self.call("POST", "rules", dict(spec)).json()
        return rule

    def remove_rule(self, rule_id: str) -> None:
        self.call("DELETE", f"rules/{rule_id}")

    def rules(self) -> list[dict[str, Any]]:
        """The rules this namespace's requests meet, with their hits: run-time ones, then the file's."""
        rules: list[dict[str, Any]] = self.call("GET", "rules").json()["rules"]
        return rules

    def clear_rules(self) -> None:
        self.call("DELETE", "rules")

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = self.call("GET", "health").json()
        return health

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Journal:
    """What was sent in the namespace: `entries` (newest last) and assertion helpers.

    An entry is the admin API's `Entry` (`/__admin/openapi.yaml`): id, time, method, path,
    headers (secrets redacted), body, alternative, route, provider, rule, status, events,
    ttfb_ms, duration_ms, done, namespace, worker and client_gone.
    """

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.since(None)

    def since(self, entry_id: int | None, limit: int | None = None) -> list[dict[str, Any]]:
        """The entries after `entry_id` (None: all), oldest first, at most `limit` of them."""
        params = {k: v for k, v in (("since", entry_id), ("limit", limit)) if v is not None}
        entries: list[dict[str, Any]] = self._admin.call("GET", "journal", params=params).json()["entries"]
        return entries

    @property
    def bodies(self) -> list[Any]:
        return [e["body"] for e in self.entries]

    def clear(self) -> None:
        self._admin.call("DELETE", "journal")

    def assert_called_with(self, **fields: Any) -> dict[str, Any]:
        """Some request's body had all these fields (e.g. prompt=…, max_tokens=…); returns its entry."""
        entry: dict[str, Any]
        for entry in reversed(self.entries):
            body = entry["body"]
            if isinstance(body, dict) and all(k in body and body[k] == v for k, v in fields.items()):
                return entry
        sent = "\n".join(f"  {e['method']} {e['path']} -> {e['status']}: {e['body']!r}" for e in self.entries)
        raise AssertionError(f"no request had {fields!r}; the requests were:\n{sent or '  (none)'}")

    def assert_count(self, n: int) -> None:
        assert len(self.entries) == n, f"expected {n} requests, the journal has {len(self.entries)}"
