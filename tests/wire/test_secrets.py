"""Planted secrets never leak into the log, the journal, error messages, or upstream requests they don't belong to."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from portkey_completions.testing.serving import wait_until
from support import BASE, COMPLETIONS, calls

pytestmark = pytest.mark.wire

PORTKEY_KEY = "pk-PLANTED-portkey-0001"
WRONG_KEY = "pk-PLANTED-wrong-0002"
UPSTREAM_KEY = "sk-PLANTED-upstream-0003"
CONFIG_KEY = "sk-PLANTED-config-0004"
BEARER = "sk-PLANTED-bearer-0005"
VIRTUAL_KEY = "vk-PLANTED-virtual-0006"
UNKNOWN_VIRTUAL_KEY = "vk-PLANTED-unknown-0007"
BROKEN_CONFIG_KEY = "sk-PLANTED-broken-config-0008"
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "hello", "max_tokens": 3}


@pytest.fixture
def gateway(tmp_path, scripted_server, start_stub):
    store = {
        "api_keys": [PORTKEY_KEY],
        "providers": {"flaky": f"{scripted_server}{BASE}"},
        "virtual_keys": {VIRTUAL_KEY: {"provider": "flaky", "api_key": UPSTREAM_KEY}},
    }
    path = calls.store_file(tmp_path, store)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        yield start_stub("--store", path, "--log-level", "debug", output=out), log


def test_planted_secrets_appear_nowhere_they_do_not_belong(gateway, scripted_server):
    url, log = gateway
    httpx.post(f"{scripted_server}/__script", json=[]).raise_for_status()
    key = {"x-portkey-api-key": PORTKEY_KEY}
    config = {"provider": "flaky", "api_key": CONFIG_KEY}
    answers: list[httpx.Response] = [
        httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers={**key, "x-portkey-virtual-key": VIRTUAL_KEY}),
        httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers={**key, "x-portkey-config": json.dumps(config)}),
        httpx.post(
            f"{url}{COMPLETIONS}",
            json=BODY,
            headers={**key, "Authorization": f"Bearer {BEARER}", "x-portkey-provider": "flaky"},
        ),
        httpx.post(f"{url}{COMPLETIONS}", json=BODY, headers={**key, "x-portkey-virtual-key": UNKNOWN_VIRTUAL_KEY}),
        httpx.post(
            f"{url}{COMPLETIONS}", json=BODY, headers={"x-portkey-api-key": WRONG_KEY, "x-portkey-virtual-key": "vk"}
        ),
        httpx.post(f"{url}{COMPLETIONS}", json={**BODY, "n": 0}, headers={**key, "x-portkey-virtual-key": VIRTUAL_KEY}),
        # A config that is not JSON still holds a key: the journal must not keep it.
        httpx.post(
            f"{url}{COMPLETIONS}",
            json=BODY,
            headers={**key, "x-portkey-config": f'{{"provider": "flaky", "api_key": "{BROKEN_CONFIG_KEY}"'},
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 401, 400, 400]
    journal = httpx.get(f"{url}/__admin/journal").text
    upstream: list[dict[str, Any]] = httpx.get(f"{scripted_server}/__log").json()
    # The last request's access-log line is the last thing it logs: wait for it to reach the file.
    wait_until(
        lambda: log.read_text().count(f'"POST {COMPLETIONS} HTTP/1.1"') >= len(answers),
        timeout=10,
        what="every request's access-log line in the server's log",
    )
    channels = {
        "responses": "\n".join(a.text + json.dumps(dict(a.headers)) for a in answers),
        "journal": journal,
        "log": log.read_text(),
    }
    every = (
        PORTKEY_KEY,
        WRONG_KEY,
        UPSTREAM_KEY,
        CONFIG_KEY,
        BEARER,
        VIRTUAL_KEY,
        UNKNOWN_VIRTUAL_KEY,
        BROKEN_CONFIG_KEY,
    )
    found = {name: [s for s in every if s in text] for name, text in channels.items()}
    assert found == {name: [] for name in channels}, found
    # Upstream: each request carries its own provider key, and of Portkey's headers only the trace id.
    assert [e["headers"].get("authorization") for e in upstream] == [
        f"Bearer {UPSTREAM_KEY}",
        f"Bearer {CONFIG_KEY}",
        f"Bearer {BEARER}",
    ]
    sent = json.dumps(upstream)
    assert not [s for s in (PORTKEY_KEY, WRONG_KEY, VIRTUAL_KEY, UNKNOWN_VIRTUAL_KEY) if s in sent]
    assert [sorted(h for h in e["headers"] if h.startswith("x-portkey")) for e in upstream] == [
        ["x-portkey-trace-id"]
    ] * len(upstream)
