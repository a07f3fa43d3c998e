"""Benchmark the gateway's added latency: the same requests to an upstream directly and through the gateway.

Two real servers on loopback: an upstream (`portkey-stub serve --openai-compatible`) and a gateway
(`portkey-stub serve --store`, provider `up` -> the upstream). Requests alternate between the two
paths, so drift on a noisy machine hits both alike; the baseline is the direct path, measured in
the same run.

    python scripts/bench_gateway.py [--requests N] [--stream]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 16, "temperature": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(*args: str) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "portkey_completions.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen([*argv, *args], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(client: httpx.Client, url: str, headers: dict[str, str], stream: bool) -> float:
    start = time.perf_counter()
    if stream:
        with client.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as response:
            for _ in response.iter_raw():
                pass
    else:
        response = client.post(url, json=BODY, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per path (default: %(default)s)")
    parser.add_argument("--stream", action="store_true", help="stream the completions (time to the last byte)")
    args = parser.parse_args()

    with serve("--openai-compatible") as upstream, tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.yaml"
        store.write_text(f"api_keys: [pk-bench]\nproviders:\n  up: {upstream}/v1\n")
        with serve("--store", str(store)) as gateway, httpx.Client(timeout=30) as client:
            direct = (f"{upstream}/v1/completions", {"Authorization": "Bearer sk-bench"})
            routed = (
                f"{gateway}/v1/completions",
                {"x-portkey-api-key": "pk-bench", "Authorization": "Bearer sk-bench", "x-portkey-provider": "up"},
            )
            for _ in range(20):  # warm both paths: connections, caches
                timed(client, *direct, args.stream)
                timed(client, *routed, args.stream)
            times: dict[str, list[float]] = {"direct to the upstream (baseline)": [], "through the gateway": []}
            for _ in range(args.requests):
                times["direct to the upstream (baseline)"].append(timed(client, *direct, args.stream))
                times["through the gateway"].append(timed(client, *routed, args.stream))

    kind = "streamed, to the last byte" if args.stream else "JSON"
    print(f"gateway latency, {args.requests} requests per path, 16-token completions ({kind}), alternating:")
    print(f"{'path':<38}{'p50 ms':>10}{'p99 ms':>10}{'x baseline p50':>16}")
    base = statistics.median(times["direct to the upstream (baseline)"])
    for name, values in times.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"{name:<38}{p50 * 1e3:>10.2f}{p99 * 1e3:>10.2f}{p50 / base:>16.2f}")
    direct_values, routed_values = times.values()
    added = [r - d for d, r in zip(direct_values, routed_values, strict=True)]
    p50, p99 = statistics.median(added) * 1e3, percentile(added, 0.99) * 1e3
    print(f"{'added by the gateway (pairwise)':<38}{p50:>10.2f}{p99:>10.2f}")


if __name__ == "__main__":
    main()
