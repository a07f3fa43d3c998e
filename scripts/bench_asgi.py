"""`make bench-asgi`: the app's own cost per request, in-process, beside bare Starlette's in the same run.

No sockets and no uvicorn: an ASGI driver calls each app with the bench's request (the same body
and headers as `make bench`), on uvloop, pinned to one core where there are two. Each figure is
the minimum of seven runs (the quietest, on a noisy machine). What it shows is what a change to
the request path saves, without the HTTP server's share; `make bench` gives the figure that counts.

    python scripts/bench_asgi.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import bench
import benchkit
import orjson
import uvloop

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
RUNS = 7
WARM_UP = 200


def _scope(body: bytes) -> dict[str, Any]:
    headers = [(k.lower().encode(), v.encode()) for k, v in bench.HEADERS.items()]
    headers += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode()), (b"user-agent", b"wrk")]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": benchkit.COMPLETIONS,
        "raw_path": benchkit.COMPLETIONS.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
    }


async def _per_request(app: App, requests: int, sent: dict[str, Any] = bench.BODY, warm_up: int = WARM_UP) -> float:
    """Microseconds per request of `sent` (bench.BODY), after `warm_up` of them."""
    body = orjson.dumps(sent)
    scope = _scope(body)

    async def one() -> None:
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a client that stays: the app never needs this
            raise AssertionError("unreachable")

        status = None

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        if status != 200:
            raise SystemExit(f"the app answered {status}")

    for _ in range(warm_up):
        await one()
    started = time.perf_counter()
    for _ in range(requests):
        await one()
    return (time.perf_counter() - started) / max(requests, 1) * 1e6


def measure(app: App, requests: int) -> float:
    return min(uvloop.run(_per_request(app, requests)) for _ in range(RUNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per run (default: %(default)s)")
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {int(benchkit.SERVER_CORE)})
    namespace: dict[str, Any] = {}
    exec(bench.BARE, namespace)  # the baseline app `make bench` serves
    from portkey_completions.app import create_app

    stub = create_app(swagger_ui=False)
    gc.collect()
    gc.freeze()  # as `portkey-stub serve` does
    bare_us, stub_us = measure(namespace["app"], args.requests), measure(stub, args.requests)
    print(f"portkey-stub bench-asgi (in-process; minimum of {RUNS} runs of {args.requests} requests)")
    print(f"bare Starlette (baseline)  {bare_us:7.1f} us/request")
    print(f"portkey-stub               {stub_us:7.1f} us/request")
    print(f"stub - bare                {stub_us - bare_us:7.1f} us/request")


if __name__ == "__main__":
    main()
