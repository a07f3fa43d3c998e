"""`portkey-stub` says what is wrong, with the subcommand's usage, before it starts anything."""

from __future__ import annotations

import socket
import subprocess

import pytest

from portkey_completions.testing.serving import stub_command
from support import BASE, COMPLETIONS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(stub_command(*args), capture_output=True, text=True, timeout=60)


def test_a_mistyped_flag_is_one_line_with_the_closest_flag():
    result = run("serve", "--prot", "1")
    assert result.returncode == 2
    assert result.stderr == "portkey-stub serve: error: unrecognized arguments: --prot 1 (did you mean --port?)\n"


def test_options_before_the_command_are_explained():
    result = run("--port", "9000", "serve")
    assert result.returncode == 2
    assert result.stderr == "portkey-stub: error: options follow the command: portkey-stub serve --port 9000\n"


def test_the_usage_block_comes_with_help_only():
    assert "usage: portkey-stub serve" in run("serve", "--help").stdout
    assert "usage:" not in run("serve", "--workers", "many").stderr


@pytest.mark.parametrize(
    ("flag", "content", "says"),
    [
        ("--scenarios", "rules: [{respond: {colour: red}}]", "colour"),
        ("--store", "api_keys: 3", "api_keys"),
        ("--models", "gpt-x: {context_window: -1}", "context_window"),
    ],
)
def test_a_file_option_error_names_the_option_and_the_file_before_any_banner(tmp_path, flag, content, says):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = run("serve", "--port", "0", flag, str(path))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"portkey-stub serve: error: {flag}") and str(path) in last and says in last, last
    assert "no --store" not in result.stderr  # the start banner comes only after every option is checked


def test_a_missing_cassette_is_an_error(tmp_path):
    result = run("serve", "--port", "0", "--replay", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "--replay" in result.stderr and "missing.json: no such file" in result.stderr


def test_workers_is_at_least_one():
    result = run("serve", "--workers", "0")
    assert result.returncode == 2 and "--workers: must be at least 1" in result.stderr


@pytest.mark.parametrize(
    "workers", [[], ["--workers", "2", "--state", "per-process"]], ids=["one process", "two workers"]
)
def test_a_port_in_use_is_named_before_anything_starts(workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), *workers)
    assert result.returncode == 2
    assert f"--port {port}" in result.stderr and "startup complete" not in result.stderr


def test_log_level_is_case_insensitive_and_documented():
    assert run("serve", "--log-level", "INFO", "--help").returncode == 0
    assert "how much to log" in run("serve", "--help").stdout
    assert run("serve", "--log-level", "loud").returncode == 2


def test_workers_without_shared_state_are_refused_naming_state():
    result = run("serve", "--port", "0", "--workers", "2")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "--workers 2" in last and "--state redis://" in last and "--state per-process" in last, last


@pytest.mark.parametrize(
    ("state", "says"),
    [("postgres://x", "give memory, per-process or redis://"), (None, "cannot reach Redis")],
    ids=["not a state", "nothing listening"],
)
def test_a_state_that_cannot_be_used_is_refused_before_anything_starts(state, says):
    if state is None:
        with socket.socket() as unused:  # a port nothing listens on (bound, not listening)
            unused.bind(("127.0.0.1", 0))
            url = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
            result = run("serve", "--port", "0", "--state", url, "--state-wait", "0")
    else:
        result = run("serve", "--port", "0", "--state", state)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("portkey-stub serve: error: --state") and says in last, last


def test_per_process_state_is_an_opt_in_that_warns_at_start(tmp_path, start_stub):
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        start_stub("--workers", "2", "--state", "per-process", "--log-level", "warning", output=output)
    assert "warning: --state per-process: each of the 2 workers has its own" in log.read_text()


@pytest.mark.parametrize("level", ["info", "warning"])
def test_serve_logs_one_line_per_request_at_info_and_none_above(tmp_path, level):
    import httpx

    from portkey_completions.testing import serving

    log = tmp_path / "serve.log"
    headers = {"x-portkey-api-key": "pk", "x-portkey-virtual-key": "vk"}
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 2}
    with log.open("w") as output, serving.stub("--log-level", level, output=output) as url:
        assert httpx.post(f"{url}{COMPLETIONS}", json=body, headers=headers).status_code == 200
        assert httpx.get(f"{url}/ns/a{BASE}/nope?x=1").status_code == 404
    # The server has stopped: whatever it buffered is written (at exit, if not before).
    lines = [line for line in log.read_text().splitlines() if ' - "' in line]
    if level == "warning":
        assert lines == []
        return
    probe, posted, missing = lines  # the readiness probe's GET /, then the test's two requests
    assert probe.startswith("INFO:     127.0.0.1:") and probe.endswith('"GET / HTTP/1.1" 200 OK')
    assert posted.endswith(f'"POST {COMPLETIONS} HTTP/1.1" 200 OK')
    assert missing.endswith(f'"GET /ns/a{BASE}/nope?x=1 HTTP/1.1" 404 Not Found')  # the path as sent


def test_a_store_variable_that_is_not_set_is_named_before_anything_starts(tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text("api_keys: [pk]\nvirtual_keys: {vk: {provider: stub, api_key: '${NOT_SET_ANYWHERE}'}}\n")
    result = run("serve", "--port", "0", "--store", str(store))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("portkey-stub serve: error: --store") and "NOT_SET_ANYWHERE is not set" in last, last
    assert "virtual_keys.vk.api_key" in last


def test_spec_diff_says_what_an_update_breaks_and_fails_on_it(tmp_path):
    import json

    import yaml

    from support import ROOT

    old = ROOT / "openapi" / "portkey-completions.yaml"
    spec = yaml.safe_load(old.read_text(encoding="utf-8"))
    del spec["components"]["schemas"]["CreateCompletionRequest"]["properties"]["suffix"]
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(spec), encoding="utf-8")
    breaking = run("spec-diff", str(old), str(new), "--fail-on", "breaking")
    assert breaking.returncode == 1 and breaking.stdout.startswith("breaking  request-property-removed")
    report = json.loads(run("spec-diff", str(old), str(new), "--format", "json").stdout)
    assert report["summary"]["breaking"] == 1 and report["changes"][0]["path"].endswith("/properties/suffix")
    same = run("spec-diff", str(old), str(old), "--fail-on", "breaking")
    assert same.returncode == 0 and same.stdout == "No change to the served operations.\n"
    missing = run("spec-diff", str(old), str(tmp_path / "gone.yaml"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
