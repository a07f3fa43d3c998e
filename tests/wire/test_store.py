"""The store file and the strategies that need no upstream: loading, announcing, load balancing."""

from __future__ import annotations

import collections
import json

import pytest

from portkey_completions.app import create_app
from portkey_completions.gateway.store import Store
from support import COMPLETIONS

KEY = {"x-portkey-api-key": "pk-gw"}
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5}


def test_store_files_toml_and_errors(tmp_path):
    toml = tmp_path / "store.toml"
    toml.write_text('api_keys = ["pk"]\n[providers]\nup = "http://127.0.0.1:1/v1"\n')
    assert Store.load(toml).providers == {"up": "http://127.0.0.1:1/v1"}
    for bad in [
        "api_keys: []",
        "api_keys: [pk]\nproviders: {stub: http://x}",
        "api_keys: [pk]\nextra: 1",
        "api_keys: [pk]\nvirtual_keys: {vk: {provider: nowhere}}",
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(bad)
        with pytest.raises(ValueError):
            Store.load(path)


def test_no_store_is_announced_at_start(tmp_path, start_stub):
    log_file = tmp_path / "err.log"
    with log_file.open("w") as err:
        start_stub("--log-level", "warning", output=err)  # the notice is printed before the server answers
    assert "any non-empty x-portkey-api-key is accepted" in log_file.read_text()


def test_loadbalance_splits_as_weighted():
    """1000 requests over two weighted targets (both the stub, so in-process is enough)."""
    app = create_app(store=Store(api_keys=("pk-gw",)))
    lb = routing(
        {
            "strategy": {"mode": "loadbalance"},
            "targets": [{"provider": "stub", "weight": 0.75}, {"provider": "stub", "weight": 0.25}],
        }
    )
    counts: collections.Counter[str] = collections.Counter()
    with app.test_client() as client:
        for _ in range(1000):
            response = client.post(COMPLETIONS, json={**BODY, "max_tokens": 1}, headers={**KEY, **lb})
            counts[response.headers["x-portkey-last-used-option-index"]] += 1
    share = counts["config.targets[0]"]
    assert abs(share - 750) < 5 * (1000 * 0.75 * 0.25) ** 0.5, counts  # within 5 sigma


def routing(value: dict) -> dict[str, str]:
    return {"x-portkey-config": json.dumps(value)}
