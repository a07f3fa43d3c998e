"""Benchmark the gateway's added latency: the same requests to an upstream directly and through the gateway.

Two real servers on loopback: an upstream (`portkey-stub serve --openai-compatible`) and a gateway
(`portkey-stub serve --store`, provider `up` -> the upstream). Requests alternate between the two
paths, so drift on a noisy machine hits both alike; the baseline is the direct path, measured in
the same run.

    python scripts/bench_gateway.py [--requests N] [--stream]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import benchkit
import httpx

from portkey_completions.testing import serving

BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 16, "temperature": 0}


def measure(requests: int, stream: bool, route: str = "provider") -> tuple[list[float], list[float]]:
    """Seconds per request, direct and through the gateway, alternating after a warm-up.

    route: `provider` (a store maps a provider name to the upstream), `custom_host` (the
    request names the upstream's URL) or `cached` (a config with `cache: simple`: every request
    after the first is a HIT, answered without the upstream).
    """
    up_port, gw_port = serving.free_port(), serving.free_port()
    upstream_argv = [*benchkit.STUB, "--openai-compatible", "--port", str(up_port)]
    with benchkit.server(upstream_argv, up_port) as upstream, tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.yaml"
        store.write_text(f"api_keys: [pk-bench]\nproviders:\n  up: {upstream}{benchkit.BASE}\n")
        gateway_argv = [*benchkit.STUB, "--port", str(gw_port)]
        if route == "provider":
            gateway_argv += ["--store", str(store)]
            headers = {"x-portkey-api-key": "pk-bench", "Authorization": "Bearer sk-bench", "x-portkey-provider": "up"}
        elif route == "cached":
            gateway_argv += ["--store", str(store)]
            config = {"provider": "up", "api_key": "sk-bench", "cache": {"mode": "simple"}}
            headers = {"x-portkey-api-key": "pk-bench", "x-portkey-config": json.dumps(config)}
        else:
            headers = {
                "x-portkey-api-key": "pk-bench",
                "Authorization": "Bearer sk-bench",
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": f"{upstream}{benchkit.BASE}",
            }
        with benchkit.server(gateway_argv, gw_port) as gateway, httpx.Client(timeout=30) as client:
            direct = (f"{upstream}{benchkit.COMPLETIONS}", {"Authorization": "Bearer sk-bench"})
            routed = (f"{gateway}{benchkit.COMPLETIONS}", headers)
            for _ in range(20):  # warm both paths: connections, caches
                benchkit.timed(client, *direct, BODY, stream)
                benchkit.timed(client, *routed, BODY, stream)
            direct_times, routed_times = [], []
            for _ in range(requests):
                direct_times.append(benchkit.timed(client, *direct, BODY, stream))
                routed_times.append(benchkit.timed(client, *routed, BODY, stream))
    return direct_times, routed_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per path (default: %(default)s)")
    parser.add_argument("--stream", action="store_true", help="stream the completions (time to the last byte)")
    args = parser.parse_args()

    direct, routed = measure(args.requests, args.stream)
    kind = "streamed, to the last byte" if args.stream else "JSON"
    print(f"gateway latency, {args.requests} requests per path, 16-token completions ({kind}), alternating:")
    print(f"{'path':<38}{'p50 ms':>10}{'p99 ms':>10}{'x baseline p50':>16}")
    base = statistics.median(direct)
    for name, values in (("direct to the upstream (baseline)", direct), ("through the gateway", routed)):
        p50, p99 = statistics.median(values), benchkit.percentile(values, 0.99)
        print(f"{name:<38}{p50 * 1e3:>10.2f}{p99 * 1e3:>10.2f}{p50 / base:>16.2f}")
    added = [r - d for d, r in zip(direct, routed, strict=True)]
    p50, p99 = statistics.median(added) * 1e3, benchkit.percentile(added, 0.99) * 1e3
    print(f"{'added by the gateway (pairwise)':<38}{p50:>10.2f}{p99:>10.2f}")
    direct, cached = measure(args.requests, args.stream, "cached")
    base = statistics.median(direct)
    p50, p99 = statistics.median(cached), benchkit.percentile(cached, 0.99)
    print(f"{'a cache HIT (its own direct baseline)':<38}{p50 * 1e3:>10.2f}{p99 * 1e3:>10.2f}{p50 / base:>16.2f}")


if __name__ == "__main__":
    main()
