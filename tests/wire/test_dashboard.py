"""Every PromQL query the docs ship (docs/grafana-dashboard.json, docs/observability.md) answers with data
on a real Prometheus that scrapes a real server.

Prometheus is Debian's (`.ci/run` installs it). It scrapes the server every second; two waves of
requests, a few scrapes apart, give every `rate()` an increase to see.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import httpx
import pytest

from portkey_completions.testing import serving
from portkey_completions.testing.serving import free_port, wait_until
from support import BODY, ROOT, calls
from support.containers import require

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
OBSERVABILITY = ROOT / "docs" / "observability.md"
PROMETHEUS = shutil.which("prometheus")
KEY = {"x-portkey-api-key": "pk-d"}
STUB = {**KEY, "x-portkey-virtual-key": "vk-stub"}
RETRIED = {"provider": "gone", "api_key": "sk", "retry": {"attempts": 1, "on_status_codes": [502]}}
FALLBACK = {"strategy": {"mode": "fallback"}, "targets": [RETRIED, {"provider": "stub"}]}
CACHED = {"provider": "stub", "cache": {"mode": "simple"}}

pytestmark = pytest.mark.wire


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def documented_queries() -> list[str]:
    """The PromQL column of observability.md's table: each backquoted query of a row."""
    rows = [line for line in OBSERVABILITY.read_text(encoding="utf-8").splitlines() if "(portkey_stub_" in line]
    return [q for row in rows for q in re.findall(r"`([^`]*\(portkey_stub_[^`]*)`", row)]


def test_the_page_shows_the_dashboards_queries():
    """One set of queries: the page's table quotes the dashboard, never a variant of its own."""
    documented = documented_queries()
    assert documented and set(documented) <= set(dashboard_queries())


def traffic(url: str) -> None:
    """A wave touching every panel: stub answers and a stream, a 401, an upstream error retried then a
    fallback, and a cached answer."""
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    config = {"x-portkey-config": json.dumps(FALLBACK)}
    cached = {**KEY, "x-portkey-config": json.dumps(CACHED)}
    answers = [
        calls.post(url, BODY, auth=STUB),
        calls.post(url, streamed, auth=STUB),
        calls.post(url, BODY, auth={**STUB, "x-portkey-api-key": "pk-wrong"}),
        calls.post(url, BODY, auth={**KEY, **config}),
        calls.post(url, {**BODY, "prompt": "cache me"}, auth=cached),
        calls.post(url, {**BODY, "prompt": "cache me"}, auth=cached),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 200, 200, 200]


def test_every_dashboard_query_answers_with_data_on_a_real_prometheus(tmp_path, start_stub):
    require(PROMETHEUS, "the dashboard's queries", ".ci/run installs Debian's prometheus")
    assert PROMETHEUS is not None
    store = calls.store_file(
        tmp_path,
        {"api_keys": ["pk-d"], "providers": {"gone": "http://127.0.0.1:9/v1"},
         "virtual_keys": {"vk-stub": {"provider": "stub"}}},
    )  # fmt: skip
    url = start_stub("--store", store, "--log-level", "error", "--retry-backoff", "fast")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs: [{{job_name: portkey-stub, static_configs: [{{targets: ['{url.removeprefix('http://')}']}}]}}]\n"
    )
    port = free_port()
    argv = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with serving.process(argv, port, ready_path="/-/ready", output=subprocess.DEVNULL) as prometheus:
        api = f"{prometheus}/api/v1"
        wait_until(lambda: _samples(api, "up") >= 2, timeout=60, what="two scrapes of the server")
        for _ in range(2):  # two waves, each seen by two scrapes at least
            traffic(url)
            scraped = _samples(api, "up")
            wait_until(lambda: _samples(api, "up") >= scraped + 2, timeout=30, what="two more scrapes")  # noqa: B023
        empty = {}
        for query in dashboard_queries():
            answer = httpx.get(f"{api}/query", params={"query": query}, timeout=10).json()
            assert answer["status"] == "success", (query, answer)
            values = [float(r["value"][1]) for r in answer["data"]["result"]]
            if not values or not all(math.isfinite(v) and v > 0 for v in values):
                empty[query] = values
    assert not empty, f"queries without data: {empty}"


def _samples(api: str, metric: str) -> int:
    """How many samples of `metric` Prometheus holds for the last minute."""
    try:
        answer = httpx.get(f"{api}/query", params={"query": f"count_over_time({metric}[1m])"}, timeout=5).json()
    except (httpx.TransportError, json.JSONDecodeError):
        return 0
    result = answer.get("data", {}).get("result", [])
    return int(float(result[0]["value"][1])) if result else 0
