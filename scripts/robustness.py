"""`make robustness`: hostile input, injected faults, a soak and planted secrets, against real servers.

The checks a wire test already owns (planted secrets, SIGTERM during streams, clients that
leave mid-stream) are not written again here: the table runs those tests, several times.

Every row is measured here, in this run, on loopback, and says whether it holds; the exit status
is 0 only if every row does. Processes: the server under test (`portkey-stub serve`), a second
`portkey-stub serve` as an upstream that misbehaves on request (scenario rules chosen by prompt),
and tests/support/scripted_server.py as an upstream that records exactly what it was sent.

    python scripts/robustness.py [--quick]

Its helpers are in robustkit.py, the hostile-input section in robustness_hostile.py.

--quick (the slice CI runs) leaves out the checks the tests own (the suite runs them), tries fewer
inputs and faults, and soaks for 5,000 requests instead
of 100,000; the full run takes a few minutes. schemathesis and atheris at scale are `make fuzz`.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import benchkit
import httpx
import yaml
from benchkit import BASE, COMPLETIONS
from robustkit import (
    BODY,
    BODY_TIMEOUT,
    KEY,
    ROOT,
    SCRIPTED,
    UPSTREAM_TIMEOUT,
    Row,
    health,
    last_error_code,
    post,
    refused,
    stream_data,
)
from robustness_hostile import hostile_inputs

from portkey_completions.testing import serving

# -- faults -----------------------------------------------------------------------------------------

FAULT_RULES = {
    "rules": [
        {"match": {"prompt": "^fault:cut$"}, "respond": {"disconnect_after": 2}},
        {"match": {"prompt": "^fault:malformed$"}, "respond": {"malformed_after": 1}},
        {"match": {"prompt": "^fault:stall$"}, "respond": {"ttft": UPSTREAM_TIMEOUT * 3}},
        {"match": {"prompt": "^fault:slow$"}, "respond": {"latency": UPSTREAM_TIMEOUT * 3}},
        {"match": {"prompt": "^fault:503$"}, "respond": {"status": 503}},
    ]
}


def faults(gateway: str, stub: str, scripted: str, n: int) -> list[Row]:
    rows = []

    def fault(name: str, inject: Callable[[], Any], expected: Any = True) -> None:
        outcomes = [inject() for _ in range(n)]
        survived = outcomes.count(expected)
        alive = health(gateway)["status"] == "ok"
        figure = f"{n} injected, {survived} survived as specified"
        misses = [o for o in outcomes if o != expected]
        if misses:
            figure += f"; first miss: {misses[0]!r}"
        rows.append(Row("faults", name, figure, survived == n and alive))

    def prompt(text: str) -> dict[str, Any]:
        # <|endoftext|> banned: the model must not end the stream before the fault comes.
        return {**BODY, "prompt": text, "logit_bias": {"100257": -100}}

    up = {**KEY, "x-portkey-virtual-key": "vk-up"}
    fault(
        "upstream cut mid-stream -> upstream_error event",
        lambda: last_error_code(stream_data(gateway, prompt("fault:cut"), up)),
        "upstream_error",
    )
    fault(
        "upstream malformed event -> upstream_malformed event",
        lambda: last_error_code(stream_data(gateway, prompt("fault:malformed"), up)),
        "upstream_malformed",
    )
    fault(
        "upstream stalls mid-stream -> upstream_timeout event",
        lambda: last_error_code(stream_data(gateway, prompt("fault:stall"), up)),
        "upstream_timeout",
    )
    fault("upstream silent -> 504", lambda: refused(post(gateway, json.dumps(prompt("fault:slow")).encode(), up), 504))
    retry = {**KEY, "x-portkey-config": json.dumps({"virtual_key": "vk-up", "retry": {"attempts": 2}})}

    def retried_503() -> bool:
        response = post(gateway, json.dumps(prompt("fault:503")).encode(), retry)
        # Both retries spent and still failing: Portkey's count says -1.
        return response.status_code == 503 and response.headers.get("x-portkey-retry-attempt-count") == "-1"

    fault("upstream 503, retried twice -> 503, attempt count -1", retried_503)
    fallback = {**KEY, "x-portkey-config": json.dumps(
        {"strategy": {"mode": "fallback"}, "targets": [{"virtual_key": "vk-gone"}, {"provider": "stub"}]})}  # fmt: skip
    fault(
        "upstream unreachable, fallback -> 200 from the next target",
        lambda: post(gateway, json.dumps(BODY).encode(), fallback).status_code == 200,
    )
    fault(
        "upstream unreachable -> 502",
        lambda: refused(post(gateway, json.dumps(BODY).encode(), {**KEY, "x-portkey-virtual-key": "vk-gone"}), 502),
    )
    scripted_vk = {**KEY, "x-portkey-virtual-key": "vk-scripted"}

    def reset_mid_body() -> bool:
        httpx.post(f"{scripted}/__script", json=[{"reset": True}]).raise_for_status()
        return refused(post(gateway, json.dumps(BODY).encode(), scripted_vk), 502, "upstream_error")

    def closed_early() -> bool:
        httpx.post(f"{scripted}/__script", json=[{"events": ['data: {"id": "x"}']}]).raise_for_status()
        return last_error_code(stream_data(gateway, BODY, scripted_vk)) == "upstream_incomplete"

    fault("upstream resets mid-body -> 502 upstream_error", reset_mid_body)
    fault("upstream ends a stream without [DONE] -> upstream_incomplete event", closed_early)
    return rows


# -- soak -------------------------------------------------------------------------------------------

SOAK_LUA = """
local bodies = {{
  '{plain}',
  '{stream}',
  '{plain}',
}}
local gateway = {{["x-portkey-api-key"] = "pk-robust", ["authorization"] = "Bearer sk",
  ["x-portkey-provider"] = "openai", ["x-portkey-custom-host"] = "{upstream}{base}",
  ["content-type"] = "application/json"}}
local direct = {{["x-portkey-api-key"] = "pk-robust", ["x-portkey-virtual-key"] = "vk-robust",
  ["content-type"] = "application/json"}}
local i = 0
request = function()
  i = i + 1
  local kind = i % 3
  if kind == 0 then
    return wrk.format("POST", "{completions}", gateway, bodies[3])
  end
  return wrk.format("POST", "{completions}", direct, bodies[kind])
end
"""


def soak(url: str, upstream: str, total: int) -> list[Row]:
    """total requests, a third each: JSON, streamed (16 tokens), and through the gateway to a second server."""
    wrk_bin = benchkit.find_wrk()
    port = int(url.rsplit(":", 1)[1])
    pid = benchkit.serving_pid(port)
    plain = json.dumps({**BODY, "max_tokens": 16})
    stream = json.dumps({**BODY, "max_tokens": 16, "stream": True})
    results = []
    gateway = {**KEY, "authorization": "Bearer sk", "x-portkey-provider": "openai"}

    def settle() -> None:
        """Idle long enough for the gateway's pooled upstream connections to expire (5 s keep-alive);
        one request then lets the pool close them, so start and end are both counted at rest."""
        time.sleep(5.5)
        post(url, plain.encode(), {**gateway, "x-portkey-custom-host": f"{upstream}{BASE}"}).raise_for_status()
        time.sleep(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "soak.lua"

        script.write_text(
            SOAK_LUA.format(plain=plain, stream=stream, upstream=upstream, base=BASE, completions=COMPLETIONS)
        )

        def run(limit: int) -> dict[str, float]:
            """wrk runs of a few seconds until `limit` requests have been answered (wrk counts by time)."""
            runs: list[dict[str, float]] = []
            while sum(r["requests"] for r in runs) < limit:
                runs.append(benchkit.wrk(wrk_bin, f"{url}{COMPLETIONS}", 3, 16, str(script)))
            seconds = sum(r["requests"] / r["rps"] for r in runs)
            total = {k: sum(r[k] for r in runs) for k in ("requests", "errors", "non2xx")}
            return {**total, "rps": total["requests"] / seconds}

        run(max(500, total // 20))  # warm-up: caches, the gateway's pool, the allocator
        settle()
        start = (benchkit.rss_mb(pid), benchkit.open_fds(pid), health(url)["tasks"])
        results.append(run(total // 2))
        mid = benchkit.rss_mb(pid)
        results.append(run(total - total // 2))
        settle()
        end = (benchkit.rss_mb(pid), benchkit.open_fds(pid), health(url)["tasks"])
    sent = int(sum(r["requests"] for r in results))
    non2xx, errors = int(sum(r["non2xx"] for r in results)), int(sum(r["errors"] for r in results))
    rate = sent / sum(r["requests"] / r["rps"] for r in results)
    return [
        Row("soak", f"{sent:,} requests (JSON, streamed, gateway)", f"{rate:,.0f} req/s; {non2xx} non-2xx, "
            f"{errors} socket errors", sent >= total and non2xx == 0 and errors == 0),
        Row("soak", "RSS start / half-way / end", f"{start[0]:.0f} / {mid:.0f} / {end[0]:.0f} MB",
            end[0] <= mid * 1.05 + 2),
        Row("soak", "open fds start / end (at rest)", f"{start[1]} / {end[1]}", end[1] <= start[1]),
        Row("soak", "live tasks start / end", f"{start[2]} / {end[2]}", end[2] <= start[2]),
    ]  # fmt: skip


# -- the checks the tests own -------------------------------------------------------------------------

# Each is a wire test that makes the check against its own real servers; here it runs `repeats`
# times, so the table holds the same check rather than a second copy of it.
OWNED = [
    ("faults", "clients leave mid-stream -> no task left behind",
     "tests/wire/test_wire.py::test_clients_that_leave_mid_stream_leave_no_task_behind"),
    ("faults", "SIGTERM during streams -> server_shutting_down; port closed (one process, two workers)",
     "tests/wire/test_wire.py::test_sigterm_ends_streams_cleanly_and_refuses_new_connections"),
    ("secrets", "planted secrets found nowhere they don't belong (responses, journal, debug log, upstreams)",
     "tests/wire/test_secrets.py"),
]  # fmt: skip


def owned_checks(repeats: int) -> list[Row]:
    rows = []
    for section, name, node in OWNED:
        passed = 0
        for _ in range(repeats):
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", node]
            run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            passed += run.returncode == 0
            if run.returncode:  # the table says no; this says why
                print(f"{node} failed:\n{run.stdout[-3000:]}", file=sys.stderr)
        rows.append(Row(section, name, f"{passed}/{repeats} runs of {node.split('/')[-1]}", passed == repeats))
    return rows


# -- driver -----------------------------------------------------------------------------------------


@contextmanager
def servers(tmp: Path) -> Iterator[tuple[str, str, str, str]]:
    """The stub under test, a misbehaving upstream stub, the scripted upstream, and a gateway in front."""
    rules = tmp / "faults.yaml"
    rules.write_text(yaml.safe_dump(FAULT_RULES))
    with ExitStack() as stack:
        up_port, scripted_port, stub_port, gw_port = (serving.free_port() for _ in range(4))
        upstream = stack.enter_context(
            benchkit.server(
                [*benchkit.STUB, "--openai-compatible", "--scenarios", str(rules), "--port", str(up_port)], up_port
            )
        )
        scripted = stack.enter_context(
            benchkit.server([sys.executable, str(SCRIPTED), str(scripted_port)], scripted_port)
        )
        stub = stack.enter_context(
            benchkit.server(
                [*benchkit.STUB, "--openai-compatible", "--body-timeout", str(BODY_TIMEOUT), "--port", str(stub_port)],
                stub_port,
            )
        )
        store = {
            "api_keys": [KEY["x-portkey-api-key"]],
            "virtual_keys": {
                "vk-up": {"provider": "up", "base_url": f"{upstream}{BASE}", "api_key": "sk-up"},
                "vk-scripted": {"provider": "scripted", "base_url": f"{scripted}{BASE}"},
                "vk-gone": {"provider": "gone", "base_url": "http://127.0.0.1:9/v1"},
            },
        }
        (tmp / "store.yaml").write_text(yaml.safe_dump(store))
        gateway = stack.enter_context(benchkit.server(
            [*benchkit.STUB, "--store", str(tmp / "store.yaml"), "--upstream-timeout", str(UPSTREAM_TIMEOUT),
             "--retry-backoff", "fast", "--port", str(gw_port)], gw_port))  # fmt: skip
        yield stub, upstream, scripted, gateway


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the slice CI runs: fewer inputs, a 5,000-request soak")
    args = parser.parse_args()
    n, faults_n, soak_total, repeats = (12, 2, 5_000, 1) if args.quick else (100, 10, 100_000, 5)
    rng = random.Random(20261125)
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, servers(Path(tmp)) as (stub, upstream, scripted, gateway):
        for section, run in [
            ("hostile input", lambda: hostile_inputs(stub, upstream, n, rng)),
            ("faults", lambda: faults(gateway, stub, scripted, faults_n)),
            ("soak", lambda: soak(stub, upstream, soak_total)),
            # --quick is CI's slice, where the suite runs these tests itself: run again here, they would be twice.
            ("the checks the tests own", lambda: owned_checks(repeats) if not args.quick else []),
        ]:
            print(f"{section}…", file=sys.stderr, flush=True)
            rows += run()
    took = time.monotonic() - started
    width = max(len(r.name) for r in rows) + 2
    print(f"portkey-stub robustness ({'quick' if args.quick else 'full'}, {took:.0f} s): every row must hold")
    print(f"{'section':<15}{'row':<{width}}{'holds':<7}figure")
    for r in rows:
        print(f"{r.section:<15}{r.name:<{width}}{'yes' if r.holds else 'NO':<7}{r.figure}")
    return 0 if all(r.holds for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
