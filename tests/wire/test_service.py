"""Running as a service, as an operator tries it: variables alone, probes, logs, reload and signals.

Real `portkey-stub serve` processes on loopback; a real `redis-server` for readiness; the scripted
upstream for the gateway's log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from portkey_completions.testing import credentials, serving
from portkey_completions.testing.serving import free_port, stub_command, wait_until
from support import AUTH, BASE, BODY, calls

SERVED = "serve --store with a ${NAME} key, configured by PORTKEY_STUB_* variables alone"


def _store(path: Path, **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"api_keys": ["${TEAM_KEY}"], **extra}), encoding="utf-8")
    return path


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def configured(tmp_path):
    """A server configured by variables alone (json logs, a store read with ${TEAM_KEY}); its URL, log and store."""
    store = _store(tmp_path / "store.yaml", configs={"pc-falls": {
        "strategy": {"mode": "fallback"},
        "targets": [{"provider": "gone", "api_key": "sk"}, {"provider": "stub"}],
    }}, providers={"gone": "http://127.0.0.1:9/v1"})  # fmt: skip
    port = free_port()
    env = {
        "PORTKEY_STUB_PORT": str(port),
        "PORTKEY_STUB_HOST": "127.0.0.1",
        "PORTKEY_STUB_STORE": str(store),
        "PORTKEY_STUB_LOG_FORMAT": "json",
        "PORTKEY_STUB_LOG_LEVEL": "info",
        "TEAM_KEY": "pk-from-env",
    }
    log = tmp_path / "server.log"
    with log.open("w") as out, serving.process(stub_command("serve"), port, output=out, env=env) as url:
        yield url, log, store


def test_variables_alone_configure_a_server_and_json_logs_carry_the_trace_id(configured):
    url, log, _ = configured
    headers = {"x-portkey-api-key": "pk-from-env", "x-portkey-config": "pc-falls", "x-portkey-trace-id": "op-1"}
    answered = calls.post(url, BODY, auth=headers)
    assert answered.status_code == 200, answered.text
    assert answered.headers["x-portkey-provider"] == "stub"  # fell back from the unreachable upstream
    assert calls.post(url, BODY, auth={**headers, "x-portkey-api-key": credentials.API_KEY}).status_code == 401

    def logged() -> list[dict] | None:
        lines = [r for r in _lines(log) if r.get("trace_id") == "op-1"]
        return lines if any(r.get("status") == 200 for r in lines) else None  # the access line comes last

    lines = wait_until(logged, timeout=5, what="the request's log lines")
    assert all({"time", "level", "logger", "message", "trace_id"} <= set(r) for r in lines)
    fallback = [r for r in lines if r["message"].startswith("fallback from")]
    assert fallback and fallback[0]["level"] == "info" and fallback[0]["logger"].startswith("portkey_completions.")
    access = [r for r in lines if r.get("status") == 200]
    assert access and access[0]["method"] == "POST" and access[0]["path"] == f"{BASE}/completions"
    assert access[0]["alternative"] == "config" and access[0]["option"] == "config.targets[1]"
    assert access[0]["route"] == "stub"  # what answered, as the metrics say it
    assert access[0]["duration_ms"] > 0


def test_a_store_edit_takes_effect_without_a_restart_and_a_broken_one_keeps_the_last(configured):
    url, log, store = configured
    headers = {"x-portkey-api-key": "pk-new", "authorization": "Bearer sk", "x-portkey-provider": "stub"}
    assert calls.post(url, BODY, auth=headers).status_code == 401
    started = time.monotonic()
    store.write_text(yaml.safe_dump({"api_keys": ["pk-new"]}), encoding="utf-8")
    wait_until(lambda: calls.post(url, BODY, auth=headers).status_code == 200, timeout=5, what="the store's reload")
    assert time.monotonic() - started < 2.5  # within 2 s of the edit (and a request's time)
    store.write_text("api_keys: [unclosed", encoding="utf-8")
    wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 503, timeout=5, what="readiness after a bad edit")
    assert "the store file does not load" in httpx.get(f"{url}/readyz").json()["reasons"][0]
    assert calls.post(url, BODY, auth=headers).status_code == 200  # the last good store answers
    warned = [r for r in _lines(log) if r["level"] == "warning" and "not reloaded" in r["message"]]
    assert warned, log.read_text()[-2000:]


def test_probes_answer_anyone_and_stay_out_of_the_access_log_at_info(configured):
    url, log, _ = configured
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
    root = httpx.get(f"{url}/")
    assert root.status_code == 200 and root.json()["status"] == "ok"
    calls.post(url, BODY, auth={"x-portkey-api-key": "nope", "x-portkey-virtual-key": "vk"})
    wait_until(lambda: any(r.get("status") == 401 for r in _lines(log)), timeout=5, what="the 401's access line")
    assert not [r for r in _lines(log) if r.get("path") in ("/healthz", "/readyz")]


@pytest.fixture
def redis_dir(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test readiness with Redis: .ci/run installs Debian's redis-server")
        pytest.skip("redis-server is not installed")
    return tmp_path


def test_readiness_follows_redis_down_and_up(redis_dir, start_stub):
    redis_port = free_port()
    with serving.redis_server(redis_dir, port=redis_port) as redis_url:
        url = start_stub("--state", redis_url, "--log-level", "warning")
        assert httpx.get(f"{url}/readyz").status_code == 200
    # Redis stopped: not ready, with the reason; `GET /` says the same.
    down = wait_until(
        lambda: (r := httpx.get(f"{url}/readyz", timeout=5)).status_code == 503 and r, timeout=10, what="503"
    )
    assert "unreachable" in down.json()["reasons"][0]
    assert httpx.get(f"{url}/").status_code == 503
    with serving.redis_server(redis_dir, port=redis_port):
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=15, what="ready again")


def test_a_server_started_before_redis_waits_for_it_unready_then_serves(redis_dir, tmp_path, start_stub):
    """Compose and Kubernetes start services in no set order: Redis late is a 503 readiness, not an exit."""
    redis_port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        url = start_stub("--state", f"redis://127.0.0.1:{redis_port}/0", "--log-level", "warning", output=output)
    waiting = httpx.get(f"{url}/readyz")
    assert waiting.status_code == 503 and "unreachable" in waiting.json()["reasons"][0], waiting.text
    assert "waiting up to 30 s for it (--state-wait)" in log.read_text()
    with serving.redis_server(redis_dir, port=redis_port):
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=15, what="ready once Redis is up")
        assert calls.post(url, BODY, auth=AUTH).status_code == 200


def test_a_server_whose_redis_never_comes_exits_2_after_the_wait(redis_dir):
    with socket.socket() as unused:  # a port nothing listens on (bound, not listening)
        unused.bind(("127.0.0.1", 0))
        state = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
        started = time.monotonic()
        result = subprocess.run(
            serving.stub_command("serve", "--port", str(free_port()), "--state", state, "--state-wait", "3"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert 3 <= time.monotonic() - started < 30
    assert "still after 3 s (--state-wait): stopping" in result.stderr


def test_sighup_reloads_a_single_process_server_and_sigterm_exits_0(tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text(yaml.safe_dump({"api_keys": ["pk-a"]}), encoding="utf-8")
    started: list[subprocess.Popen[bytes]] = []
    headers = {"x-portkey-api-key": "pk-b", "authorization": "Bearer sk", "x-portkey-provider": "stub"}
    with serving.stub("--store", str(store), "--log-level", "warning", started=started) as url:
        [proc] = started
        assert calls.post(url, BODY, auth=headers).status_code == 401
        # Edited and signalled at once: SIGHUP reads it now, not at the next look at the file.
        store.write_text(yaml.safe_dump({"api_keys": ["pk-b"]}), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: calls.post(url, BODY, auth=headers).status_code == 200, timeout=5, what="SIGHUP reload")
        assert proc.poll() is None  # alive
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_sigterm_with_workers_exits_0():
    started: list[subprocess.Popen[bytes]] = []
    with serving.stub("--workers", "2", "--state", "per-process", "--log-level", "warning", started=started) as url:
        assert calls.post(url).status_code == 200
        started[0].send_signal(signal.SIGTERM)
        assert started[0].wait(timeout=30) == 0


def test_a_stream_that_ends_in_an_error_event_is_logged_with_its_trace_id(tmp_path, start_stub):
    log = tmp_path / "server.log"
    with log.open("w") as out:
        url = start_stub("--log-format", "json", output=out)
        headers = {**AUTH, "x-portkey-trace-id": "broken-1", "prefer": "error_after=2"}
        with httpx.stream("POST", f"{url}{BASE}/completions", json={**BODY, "stream": True}, headers=headers) as r:
            assert r.status_code == 200
            r.read()

        def logged():
            lines = [r for r in _lines(log) if r.get("trace_id") == "broken-1"]
            access = [r for r in lines if "status" in r]
            return (lines, access) if access else None

        lines, access = wait_until(logged, timeout=5, what="the broken stream's log lines")
    assert any(r["level"] == "warning" and "error event" in r["message"] for r in lines), lines
    assert access[0]["status"] == 200 and access[0]["error_event"]


def test_the_admin_token_can_come_from_a_file(tmp_path):
    from portkey_completions.app import create_app

    secret = tmp_path / "admin-token"
    secret.write_text("file-token\n", encoding="utf-8")
    with create_app(admin_token_file=secret).test_client() as client:  # "testclient" is not loopback
        assert client.get("/__admin/rules").status_code == 403
        assert client.get("/__admin/rules", headers={"authorization": "Bearer file-token"}).status_code == 200


def test_under_json_logs_every_line_on_stderr_is_json(tmp_path, start_stub):
    """The start-up notice, uvicorn's lines, the access lines and the request's own: one JSON object each."""
    log = tmp_path / "server.log"
    with log.open("w") as out:
        url = start_stub("--log-format", "json", output=out)
        assert calls.post(url).status_code == 200

        def written() -> list[str] | None:
            lines = log.read_text().splitlines()
            return lines if any('"status"' in line for line in lines) else None

        lines = wait_until(written, timeout=5, what="the access line")
    parsed = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert any("no --store" in r.get("message", "") for r in parsed)  # the start-up notice, as JSON


def test_a_pip_installed_server_starts_without_a_warning():
    """Without httpx2 (as `pip install .` resolves today), connexion's import of starlette's test client warns."""
    code = "import sys; sys.modules['httpx2'] = None\nimport portkey_completions.cli, portkey_completions.app"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
