"""Contract coverage, in-process: its items are the spec's, and each request counts what it exercised, honestly.

Semantics only (the app in-process, over httpx's ASGI transport from a loopback address, so the
admin API answers). The wire, the plugin, xdist, Redis and the browser are tests/wire/test_coverage.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portkey_completions.app import create_app
from portkey_completions.call.security import Alternatives
from portkey_completions.control.rules import RESPOND_KEYS
from portkey_completions.core import spec
from portkey_completions.gateway.store import Store, VirtualKey
from portkey_completions.stub.answer import Stub
from support import AUTH, BASE, COMPLETIONS, declared

OPERATION = f"POST {COMPLETIONS}"
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7}


class Server:
    """The app in-process, called from loopback."""

    def __init__(self, **options: Any) -> None:
        self.app = create_app(**options)

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def one() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(one())

    def post(self, body: dict[str, Any], headers: dict[str, str] = AUTH, path: str = COMPLETIONS) -> httpx.Response:
        return self("POST", path, json=body, headers=headers)

    def counts(self, namespace: str | None = None) -> dict[str, dict[str, int]]:
        """dimension -> item -> count, for the completions operation."""
        prefix = f"/ns/{namespace}" if namespace else ""
        report = self("GET", f"{prefix}/__admin/coverage").raise_for_status().json()
        assert report["schema_version"] == 1
        (operation,) = [o for o in report["operations"] if o["operation"] == OPERATION]
        return {d["dimension"]: {i["name"]: i["count"] for i in d["items"]} for d in operation["dimensions"]}


@pytest.fixture
def server() -> Iterator[Server]:
    yield Server(openai_compatible=True)


def covered(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {d: {i: n for i, n in items.items() if n} for d, items in counts.items() if any(items.values())}


def test_the_items_are_the_specs(server):
    counts = server.counts()
    properties = spec.schema("CreateCompletionRequest")["properties"]
    assert {f"{p}: sent" for p in properties} <= set(counts["fields"])
    assert set(counts["refused"]) == set(properties)
    declared_statuses = {s for s in spec.load()["paths"]["/completions"]["post"]["responses"] if s.isdigit()}
    assert declared_statuses <= set(counts["responses"])
    names = {a.name for a in Alternatives.from_spec("/completions", "post").alternatives}
    assert set(counts["alternatives"]) == names | {"openai_compatible"}
    assert set(counts["faults"]) == RESPOND_KEYS - {"times"}
    assert "gateway" not in counts  # no store: nothing is routed
    assert not covered(counts)


@declared("prompt", "echo", "max_tokens", "temperature", "stream")
def test_a_request_counts_its_fields_values_branches_and_bounds(server):
    assert server.post({**BODY, "prompt": ["one", "two"], "echo": True, "max_tokens": 0, "temperature": 2}).is_success
    counts = covered(server.counts())
    fields = counts["fields"]
    for item in ("model: sent", "prompt: sent", "echo: sent", "echo: true", "max_tokens: sent", "temperature: sent"):
        assert fields.pop(item) == 1, item
    assert fields.pop("max_tokens: at minimum (0)") == fields.pop("temperature: at maximum (2)") == 1
    branches = {name: n for name, n in fields.items() if name.startswith("prompt: ")}
    assert branches == {"prompt: oneOf[1] array of string": 1}
    assert counts["streaming"] == {"not streamed": 1}
    assert counts["responses"] == {"200": 1} and counts["alternatives"] == {"virtual_key": 1}


@declared("temperature")
def test_a_refused_field_counts_as_refused_not_sent(server):
    refused = server.post({**BODY, "temperature": 9})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "temperature"
    counts = covered(server.counts())
    assert counts == {"responses": {"400": 1}, "refused": {"temperature": 1}, "alternatives": {"virtual_key": 1}}


def test_admin_probes_and_other_paths_are_not_counted(server):
    for path in ("/healthz", "/readyz", "/__admin/journal", "/metrics", f"{BASE}/nowhere"):
        server("GET", path)
    assert not covered(server.counts())


def test_counts_outlive_the_journal_and_stay_apart_by_namespace(server):
    for namespace in ("a", "a", "b"):
        assert server.post(BODY, path=f"/ns/{namespace}{COMPLETIONS}").is_success
    server("DELETE", "/ns/a/__admin/journal")
    assert server.counts()["responses"]["200"] == 3  # the whole server's
    assert (server.counts("a")["responses"]["200"], server.counts("b")["responses"]["200"]) == (2, 1)
    assert server("DELETE", "/ns/a/__admin/coverage").status_code == 204
    assert (server.counts("a")["responses"]["200"], server.counts()["responses"]["200"]) == (0, 1)
    server("DELETE", "/__admin/coverage")
    assert not covered(server.counts())


def test_faults_applied_are_counted_and_a_broken_stream_ended_early(server):
    limited = {"Prefer": "code=429, retry_after=1"}
    assert server.post(BODY, {**AUTH, **limited}).status_code == 429
    broken = {"Prefer": "error_after=1"}
    assert server.post({**BODY, "stream": True}, {**AUTH, **broken}).status_code == 200
    counts = covered(server.counts())
    assert counts["faults"] == {"status": 1, "retry_after": 1, "error_after": 1}
    assert counts["responses"] == {"429": 1, "200": 1}
    assert counts["streaming"] == {"not streamed": 1, "streamed": 1, "stream ended early": 1}


def test_a_status_of_the_servers_own_failure_is_named_apart(server, monkeypatch):
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Stub, "answer", broken)
    assert server.post(BODY).status_code == 500
    assert covered(server.counts())["responses"] == {"500 server fault": 1}


def test_the_gateway_dimension_with_a_store():
    store = Store(api_keys=("pk",), virtual_keys={"vk": VirtualKey("stub")})
    gateway = Server(store=store)
    headers = {"x-portkey-api-key": "pk"}
    config = '{"strategy": {"mode": "fallback"}, "cache": {"mode": "simple"}, "targets": [{"virtual_key": "vk"}]}'
    for _ in range(2):
        assert gateway.post(BODY, {**headers, "x-portkey-config": config}).is_success
    assert gateway.post(BODY, {**headers, "x-portkey-virtual-key": "vk"}).is_success
    counts = gateway.counts()["gateway"]
    assert {k: v for k, v in counts.items() if v} == {
        "strategy: fallback": 2,
        "strategy: single": 1,
        "cache: MISS": 1,
        "cache: HIT": 1,
        "provider: stub": 3,
    }
    assert {"strategy: loadbalance", "strategy: conditional", "retry"} <= {k for k, v in counts.items() if not v}


def test_the_report_in_each_form(server):
    assert server.post(BODY).is_success
    term = server("GET", "/__admin/coverage?format=term-missing").text
    assert f"{OPERATION}\n" in term and "TOTAL" in term and "stream ended early" in term
    page = server("GET", "/__admin/coverage?format=html").text
    assert page.startswith("<!doctype html>") and "<script" not in page and "src=" not in page and "@import" not in page
    assert "| responses |" in server("GET", "/__admin/coverage?format=markdown").text
    wrong = server("GET", "/__admin/coverage?format=pdf")
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "format"


@declared("prompt")
def test_a_null_counts_as_null_and_as_the_branch_that_allows_it(server):
    assert server.post({**BODY, "prompt": None}).is_success
    fields = covered(server.counts())["fields"]
    prompt = {name: n for name, n in fields.items() if name.startswith("prompt: ")}
    assert prompt.pop("prompt: sent") == prompt.pop("prompt: null") == 1
    # The spec's own "no prompt" branch, if it has one, is the branch a null exercised.
    assert all(name.endswith(" null") and n == 1 for name, n in prompt.items()), prompt
