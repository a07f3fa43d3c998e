"""`make bench`: the server under load, every figure beside a baseline measured in the same run.

Servers run on core 0 (taskset), the load generator on core 1: wrk (Debian's package, installed
here if missing) for plain requests, an asyncio client for streams. Each figure is the median of
three runs after a warm-up; the servers are up together and each round runs every row in turn, so
the baseline's runs fall in the same minutes as the rows it divides. The baseline is a bare
Starlette app returning a fixed completion, under the same uvicorn with the same extras
(httptools, uvloop) as the stub, sent each workload as the stub is. The headline rows are the
server as a user starts it (`portkey-stub serve --openai-compatible`, access log on), for the
default request and for a realistic mix of sampling settings (`MIX`, one of each in turn); the
same server without its access log gives the detail rows (both workloads), and runs again with
`--state redis://…` (a redis-server on the load generator's core) for the shared-state row,
whose baseline it is.
Start-up (launch to the first answer) is timed against the clock: its target is absolute.

    python scripts/bench.py [--quick]      # --quick: short runs, about a minute; CI runs it briefly
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_engine
import bench_gateway
import benchkit
import httpx
from benchkit import COMPLETIONS, LOAD_CORE, SERVER_CORE, pinned, server, wrk

from portkey_completions.testing import serving

BODY = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Say this is a test",
    "max_tokens": 16,
    "logit_bias": {"100257": -100},
}
REDIS_ROW = "the same, --log-level warning --state redis://"
AS_STARTED = "portkey-stub serve as started (access log on)"
LOG_OFF = "the same, --log-level warning (no access log)"
# The realistic mix: the sampling settings clients send, one of each in turn (16 tokens each).
MIX = [
    {**BODY, "temperature": 0},
    {**BODY, "temperature": 0.7},
    {**BODY, "temperature": 0.7, "top_p": 0.9},
    {**BODY, "logprobs": 5},
    {**BODY, "presence_penalty": 0.6},
    BODY,
]
HEADERS = {"Content-Type": "application/json", "x-portkey-api-key": "pk-bench", "x-portkey-virtual-key": "vk-bench"}
# The baseline: bare Starlette, one route at the spec's completions path (also run by bench_asgi
# and bench_instructions, which exec it).
BARE = (
    f"COMPLETIONS = {COMPLETIONS!r}\n"
    + """
import json
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = json.dumps({"id": "cmpl-bare", "object": "text_completion", "created": 0, "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": " a b c d e f g h i j k l m n o p", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21}}).encode()

async def completions(request):
    await request.body()
    return Response(BODY, media_type="application/json")

app = Starlette(routes=[Route(COMPLETIONS, completions, methods=["POST"])])
"""
)


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        k: statistics.median(r[k] for r in runs) if k not in ("errors", "non2xx") else sum(r[k] for r in runs)
        for k in runs[0]
    }


def ttfb_probes(url: str, until: float) -> list[float]:
    """Time to first byte of new streams, in ms, measured by curl (not by the loaded Python client)."""
    body = json.dumps({**BODY, "max_tokens": 256, "stream": True})
    headers = [arg for k, v in HEADERS.items() for arg in ("-H", f"{k}: {v}")]
    times = []
    while time.monotonic() < until:
        command = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", *headers, "--data", body, url]
        out = subprocess.run(pinned(LOAD_CORE, command), capture_output=True, text=True, check=True).stdout
        times.append(float(out) * 1000)
    return times


async def stream_load(url: str, seconds: float, connections: int) -> tuple[float, float]:
    """(SSE events per second, TTFB p50 ms) with `connections` clients streaming 256-token completions."""
    body = {**BODY, "max_tokens": 256, "stream": True}
    events, ttfbs = 0, []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=connections)) as client:

        async def worker() -> None:
            nonlocal events
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with client.stream("POST", url, json=body, headers=HEADERS) as response:
                    first = True
                    async for chunk in response.aiter_raw():
                        if first:
                            ttfbs.append((time.perf_counter() - started) * 1000)
                            first = False
                        events += chunk.count(b"\n\n")

        started = time.monotonic()
        probes = asyncio.create_task(asyncio.to_thread(ttfb_probes, url, deadline - 0.2))
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
        probed = await probes
    return events / elapsed, statistics.median(probed or ttfbs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default: 10, quick: 2)")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    wrk_bin = benchkit.find_wrk()
    stub = [*benchkit.STUB, "--no-swagger-ui"]  # --log-level warning: no access log
    as_started = serving.stub_command("serve", "--openai-compatible")  # as `make serve` starts it
    log_off = [*as_started, "--log-level", "warning"]  # the access log alone differs
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        lua_headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
        scripts = {"default": Path(tmp) / "post.lua", "mix": Path(tmp) / "mix.lua"}
        scripts["default"].write_text(f"wrk.method = \"POST\"\nwrk.body = '{json.dumps(BODY)}'\n{lua_headers}")
        bodies = ",\n".join(f"[[{json.dumps(body)}]]" for body in MIX)
        scripts["mix"].write_text(
            f'wrk.method = "POST"\n{lua_headers}bodies = {{{bodies}}}\ni = 0\n'
            "request = function()\n  i = (i % #bodies) + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
        )
        script = scripts["default"]
        (Path(tmp) / "bare.py").write_text(BARE)

        redis_url = stack.enter_context(benchkit.redis(tmp))
        servers = [
            ("bare Starlette (baseline)", [sys.executable, "-m", "uvicorn", "bare:app", "--log-level", "warning"], tmp),
            (AS_STARTED, as_started, None),
            (LOG_OFF, log_off, None),
        ]
        if redis_url is not None:  # Redis on the load generator's core: the server's core stays its own
            servers.append((REDIS_ROW, [*log_off, "--state", redis_url], None))
        # Every server is up at once (an idle one costs nothing), and each round runs every row in
        # turn: the baseline's runs are spread over the same minutes as the rows it divides, so a
        # machine that slows down midway moves both.
        targets: list[tuple[str, str, str]] = []
        pids: dict[str, int] = {}
        with contextlib.ExitStack() as up:
            for name, argv, cwd in servers:
                port = serving.free_port()
                up.enter_context(server([*argv, "--port", str(port)], port, core=SERVER_CORE, cwd=cwd))
                pids[name] = benchkit.serving_pid(port)
                # The log-off server sees the same traffic as the one it is compared with.
                workloads = ("default", "mix") if name != REDIS_ROW else ("default",)
                targets += [(name, workload, f"http://127.0.0.1:{port}{COMPLETIONS}") for workload in workloads]
            for _, workload, url in targets:
                wrk(wrk_bin, url, 1 if args.quick else 3, 32, str(scripts[workload]))  # warm-up
            runs: dict[tuple[str, str], list[dict[str, float]]] = {(name, w): [] for name, w, _ in targets}
            for _ in range(3):
                for name, workload, url in targets:
                    before = benchkit.cpu_seconds(pids[name])
                    run = wrk(wrk_bin, url, seconds, 32, str(scripts[workload]))
                    after = benchkit.cpu_seconds(pids[name])
                    # The server's own CPU time per request, user and system (the kernel's share: the
                    # socket reads and writes), to set beside `make bench-asgi`'s in-process cost.
                    run["user_us"] = (after[0] - before[0]) / run["requests"] * 1e6
                    run["sys_us"] = (after[1] - before[1]) / run["requests"] * 1e6
                    runs[name, workload].append(run)
            results = {target: median_run(found) for target, found in runs.items()}
        for (name, workload), r in results.items():
            what = "16-token completion" if workload == "default" else "realistic mix of sampling settings"
            rows.append(
                (
                    f"{what}, c32: {name}",
                    f"{r['rps']:,.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms",
                    f"non-2xx {r['non2xx']:.0f}, socket errors {r['errors']:.0f}",
                )
            )
        for label, (name, workload) in (
            ("stub / bare (req/s), as started", (AS_STARTED, "default")),
            ("stub / bare (req/s), as started, realistic mix", (AS_STARTED, "mix")),
            ("stub / bare (req/s), no access log", (LOG_OFF, "default")),
            ("stub / bare (req/s), no access log, realistic mix", (LOG_OFF, "mix")),
        ):
            # Each workload beside the bare app's run of that same workload.
            r, base = results[name, workload], results["bare Starlette (baseline)", workload]
            rows.append((label, f"{r['rps'] / base['rps']:.3f}", f"p99 / p50 = {r['p99'] / r['p50']:.2f}"))
        for name in ("bare Starlette (baseline)", AS_STARTED):
            r = results[name, "default"]
            rows.append(
                (
                    f"server CPU per request, 16-token completion: {name}",
                    f"user {r['user_us']:.0f} us  system {r['sys_us']:.0f} us",
                    "from /proc/<pid>/stat, in clock ticks",
                )
            )
        stub_r = results[LOG_OFF, "default"]
        if (REDIS_ROW, "default") in results:
            shared = results[REDIS_ROW, "default"]
            figure, note = f"{shared['rps'] / stub_r['rps']:.3f}", f"p99 / p50 = {shared['p99'] / shared['p50']:.2f}"
        else:
            figure, note = "not measured", "no redis-server here (Debian's package; .ci/run installs it)"
        rows.append(("redis state / memory state (req/s)", figure, note))

        port = serving.free_port()
        with server([*stub, "--port", str(port)], port, core=SERVER_CORE):
            pid = benchkit.serving_pid(port)
            url = f"http://127.0.0.1:{port}{COMPLETIONS}"
            runs = [asyncio.run(stream_load(url, seconds / 2, 8)) for _ in range(3)]
            rate, ttfb = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            rows.append(
                ("streaming 256 tokens, 8 connections", f"{rate:,.0f} SSE events/s", f"TTFB p50 {ttfb:.2f} ms (curl)")
            )
            total = 10_000 if args.quick else 100_000
            sent, at_half = 0.0, None
            while sent < total:
                sent += wrk(wrk_bin, url, 2, 32, str(script))["requests"]
                if at_half is None and sent >= total / 2:
                    at_half = benchkit.rss_mb(pid)
            rows.append(
                (f"RSS after {int(sent):,} requests", f"{benchkit.rss_mb(pid):.0f} MB", f"at half-way {at_half:.0f} MB")
            )

    first, helped = startup()
    rows.append(("start-up: launch to first answer", f"{first:.2f} s", f"portkey-stub --help: {helped:.2f} s"))
    direct, routed, added = gateway_latency(30 if args.quick else 400)
    rows.append(
        (
            "gateway added latency (pairwise)",
            f"p50 {added[0]:.2f} ms  p99 {added[1]:.2f} ms",
            f"direct p50 {direct:.2f} ms, through the gateway {routed:.2f} ms",
        )
    )
    engine = bench_engine.Engine()
    tokens = 20_000 if args.quick else 200_000
    base_rate = bench_engine.baseline(engine, tokens)
    rate = bench_engine.sampling_rate(engine, bench_engine.Sampler(engine.model, bench_engine.Sampling()), tokens)
    rows.append(
        (
            "engine in-process, default sampling",
            f"{rate:,.0f} tokens/s",
            f"{rate / base_rate:.3f} x a bare uniform pick",
        )
    )

    width = max(len(r[0]) for r in rows)
    mode = "quick" if args.quick else "full"
    print(f"portkey-stub bench ({mode}; medians of 3; server on core {SERVER_CORE}, load on core {LOAD_CORE})")
    for label, figure, note in rows:
        print(f"{label:<{width}}  {figure:<44}  {note}")


def startup(runs: int = 3) -> tuple[float, float]:
    """Seconds from launching `portkey-stub serve` to its first completion, and to `--help`'s exit: medians."""
    first, helped = [], []
    for _ in range(runs):
        port = serving.free_port()
        began = time.perf_counter()
        proc = subprocess.Popen([*benchkit.STUB, "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            serving.wait_until(
                lambda p=port: _answers(p), timeout=serving.START_TIMEOUT, what="the first answer", interval=0.005
            )
            first.append(time.perf_counter() - began)
        finally:
            proc.terminate()
            proc.wait()
        began = time.perf_counter()
        subprocess.run(serving.stub_command("--help"), check=True, capture_output=True)
        helped.append(time.perf_counter() - began)
    return statistics.median(first), statistics.median(helped)


def _answers(port: int) -> bool:
    try:
        response = httpx.post(f"http://127.0.0.1:{port}{COMPLETIONS}", json=BODY, headers=HEADERS, timeout=2)
    except httpx.TransportError:
        return False
    return response.status_code == 200


def gateway_latency(requests: int) -> tuple[float, float, tuple[float, float]]:
    """Direct vs through the gateway (custom host -> a second server); medians and the added p50/p99, in ms."""
    direct, routed = bench_gateway.measure(requests, stream=False, route="custom_host")
    added = [(r - d) * 1000 for d, r in zip(direct, routed, strict=True)]
    added_figures = (statistics.median(added), benchkit.percentile(added, 0.99))
    return statistics.median(direct) * 1000, statistics.median(routed) * 1000, added_figures


if __name__ == "__main__":
    main()
