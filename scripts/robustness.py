# Over 400 lines: one table, its sections in the order the table prints them, read top to bottom.
"""`make robustness`: hostile input, injected faults, a soak and planted secrets, against real servers.

The checks a wire test already owns (planted secrets, SIGTERM during streams, clients that
leave mid-stream) are not written again here: the table runs those tests, several times.

Every row is measured here, in this run, on loopback, and says whether it holds; the exit status
is 0 only if every row does. Processes: the server under test (`portkey-stub serve`), a second
`portkey-stub serve` as an upstream that misbehaves on request (scenario rules chosen by prompt),
and tests/support/scripted_server.py as an upstream that records exactly what it was sent.

    python scripts/robustness.py [--quick]

--quick (the slice CI runs) tries fewer inputs and faults and soaks for 5,000 requests instead
of 100,000; the full run takes a few minutes. schemathesis and atheris at scale are `make fuzz`.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchkit
import httpx
import yaml

from portkey_completions.core import sse
from portkey_completions.testing import serving
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
        f"{url}/v1/completions", content=content, headers={"content-type": "application/json", **headers},
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
        "POST", f"{url}/v1/completions", json={**body, "stream": True}, headers=headers, timeout=30
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


# -- hostile input ----------------------------------------------------------------------------------


def hostile_inputs(url: str, upstream: str, n: int, rng: random.Random) -> list[Row]:
    """Categories of hostile input, n of each (drawn), each refused with its exact status."""
    custom = {**KEY, "authorization": "Bearer sk", "x-portkey-provider": "openai"}
    valid = json.dumps(BODY).encode()

    def deep(depth: int) -> bytes:
        field = rng.choice(["prompt", "stop", "logit_bias", "metadata", None])
        opening, closing = (b'{"a":', b"}") if field == "logit_bias" else (b"[", b"]")
        nested = opening * depth + (b"1" if opening == b'{"a":' else b"") + closing * depth
        return nested if field is None else valid[:-1] + f', "{field}": '.encode() + nested + b"}"

    def bad_utf8() -> bytes:
        junk = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"])
        return valid.replace(b"Say this", b"Say " + junk * rng.randint(1, 5))

    def malformed() -> bytes:
        """A valid body with bytes dropped or changed until it is no longer JSON."""
        mutated = bytearray(valid)
        while True:
            if rng.random() < 0.5:
                del mutated[rng.randrange(len(mutated))]
            else:
                mutated[rng.randrange(len(mutated))] = rng.choice(b'{}[],:"\\')
            try:
                json.loads(mutated)
            except ValueError:
                return bytes(mutated)

    def config() -> str:
        kind = rng.randrange(5)
        if kind == 0:
            depth = rng.randint(2000, 9_000)  # headers stay under 64 KiB
            return '{"a":' * depth + "1" + "}" * depth
        if kind == 1:
            return json.dumps(
                {"strategy": {"mode": "fallback"}, "targets": [{"provider": "stub"}] * rng.randint(100, 2000)}
            )
        if kind == 2:
            node: dict[str, Any] = {"provider": "stub"}
            for _ in range(rng.randint(9, 60)):
                node = {"strategy": {"mode": "single"}, "targets": [node]}
            return json.dumps(node)
        if kind == 3:
            return json.dumps({"provider": "stub", "weight": rng.choice([10**400, -1, 1e300])})
        return '{"provider": "stub", ' + rng.choice(['"retry": {"attempts": 1e9}}', '"request_timeout": 1e999}', "}"])

    ssrf = [
        "http://169.254.169.254/latest/meta-data", "http://0x7f000001/v1", "http://2130706433/v1", "http://127.1/v1",
        "http://[::ffff:10.0.0.1]/v1", "http://user@example.com/v1", "http://10.0.0.1/v1", "http://192.168.1.1/v1",
        "http://[fe80::1]/v1", "http://metadata.google.internal/x", "ftp://example.com/v1", "http://0.0.0.0/v1",
        "http://[::]/v1", "http://224.0.0.1/v1", "http://100.64.0.1/v1", "http://a..b.example/v1",
        "http://b\u00fccher.example/v1", "http://0177.0.0.1/v1", "http://[::1]:1/v1".replace("::1", "0:0:0:0:0:0:0:1"),
    ]  # fmt: skip

    # (category, expected status, expected code, draw one request -> (content, headers))
    categories: list[tuple[str, int, str | None, Callable[[], tuple[bytes, dict[str, Any]]]]] = [
        ("oversized bodies", 413, "request_too_large",
         lambda: (valid[:-1] + b', "user": "' + b"a" * rng.randint(1 << 20, 3 << 20) + b'"}', VK)),
        ("oversized headers", 431, None, lambda: (valid, {**VK, "x-filler": "a" * rng.randint(65_600, 200_000)})),
        ("deeply nested JSON", 400, None, lambda: (deep(rng.randint(1000, 100_000)), VK)),  # under 1 MiB
        ("n x best_of x max_tokens", 400, "request_too_large", lambda: (json.dumps(
            {**BODY, "model": "babbage-002", "n": rng.randint(9, 20), "best_of": 20,
             "max_tokens": rng.randint(6600, 16000), "prompt": ["a"] * rng.randint(1, 4)}).encode(), VK)),
        ("invalid UTF-8 in bodies", 400, None, lambda: (bad_utf8(), VK)),
        ("invalid UTF-8 in headers", 400, "invalid_header", lambda: (valid, {**VK, rng.choice(
            ["x-portkey-api-key", "x-portkey-config", "x-portkey-virtual-key", "authorization"]): b"v\xff" + bytes(
            [rng.randint(0x80, 0xFF)])})),
        ("malformed JSON", 400, None, lambda: (malformed(), VK)),
        ("hostile Portkey configs", 400, "invalid_config", lambda: (valid, {**KEY, "x-portkey-config": config()})),
        ("SSRF custom hosts", 400, "custom_host_refused",
         lambda: (valid, {**custom, "x-portkey-custom-host": rng.choice(ssrf).encode()})),
    ]  # fmt: skip
    rows = []
    for name, status, code, draw in categories:
        tried = ok = server_errors = 0
        first_miss = ""
        for _ in range(n):
            content, headers = draw()
            response = post(url, content, headers)
            tried += 1
            if refused(response, status, code):
                ok += 1
            elif not first_miss:
                first_miss = f"; first miss: {content[:80]!r} -> {response.status_code} {response.text[:150]}"
            server_errors += response.status_code >= 500
        figure = (
            f"{tried} tried, {ok} refused with {status}{f' {code}' if code else ''}, {server_errors} 5xx{first_miss}"
        )
        rows.append(Row("hostile input", name, figure, ok == tried))
    rows.append(slow_uploads(url, max(3, n // 2)))
    alive = post(url, valid, VK).status_code == 200
    rows.append(Row("hostile input", "server still answers", "200" if alive else "no", alive))
    return rows


def slow_uploads(url: str, n: int) -> Row:
    """Slowloris: n connections send headers and half a body, then nothing. Each gets a 408."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(BODY).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {**VK, "content-type": "application/json"}.items())
    statuses: list[int] = []

    def one() -> None:
        with socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT + 10) as sock:
            start = f"POST /v1/completions HTTP/1.1\r\nhost: {host}\r\n{head}content-length: {len(payload)}\r\n\r\n"
            sock.sendall(start.encode() + payload[: len(payload) // 2])
            answer = sock.recv(65536).decode("latin-1")
            statuses.append(int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/") else 0)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    ok = statuses.count(408)
    figure = f"{n} held open, {ok} answered 408 after {took:.1f} s (body timeout {BODY_TIMEOUT:g} s)"
    return Row("hostile input", "slow uploads (slowloris)", figure, ok == n and took < BODY_TIMEOUT + 5)


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
  ["x-portkey-provider"] = "openai", ["x-portkey-custom-host"] = "{upstream}/v1",
  ["content-type"] = "application/json"}}
local direct = {{["x-portkey-api-key"] = "pk-robust", ["x-portkey-virtual-key"] = "vk-robust",
  ["content-type"] = "application/json"}}
local i = 0
request = function()
  i = i + 1
  local kind = i % 3
  if kind == 0 then
    return wrk.format("POST", "/v1/completions", gateway, bodies[3])
  end
  return wrk.format("POST", "/v1/completions", direct, bodies[kind])
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
        post(url, plain.encode(), {**gateway, "x-portkey-custom-host": f"{upstream}/v1"}).raise_for_status()
        time.sleep(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "soak.lua"

        script.write_text(SOAK_LUA.format(plain=plain, stream=stream, upstream=upstream))

        def run(limit: int) -> dict[str, float]:
            """wrk runs of a few seconds until `limit` requests have been answered (wrk counts by time)."""
            runs: list[dict[str, float]] = []
            while sum(r["requests"] for r in runs) < limit:
                runs.append(benchkit.wrk(wrk_bin, f"{url}/v1/completions", 3, 16, str(script)))
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
                "vk-up": {"provider": "up", "base_url": f"{upstream}/v1", "api_key": "sk-up"},
                "vk-scripted": {"provider": "scripted", "base_url": f"{scripted}/v1"},
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
            ("the checks the tests own", lambda: owned_checks(repeats)),
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
