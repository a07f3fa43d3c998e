"""`make bench-instructions`: machine instructions per request, in-process, under cachegrind.

On a shared machine a rate moves by a fifth from one minute to the next; the instructions a
request executes do not. This counts them for the bench's requests (`bench.BODY` and each body
of the realistic mix, `bench.MIX`) sent to the app as `portkey-stub serve --openai-compatible`
builds it (access log on), and for bare Starlette's request as the baseline: each figure is a
run of --requests requests after a warm-up, less the same run without them, over --requests.
It says what a change costs or saves, to the instruction; `make bench` gives the rates that count.
Needs valgrind (Debian's package).

    python scripts/bench_instructions.py [--requests N] [--warm-up N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
from typing import Any

import bench
import bench_asgi
import uvloop

# The baseline, the default request, and each other kind of the realistic mix by what it adds.
KINDS = {"bare Starlette (baseline)": bench.BODY, "default request": bench.BODY} | {
    ", ".join(f"{k} {v}" for k, v in body.items() if k not in bench.BODY): body
    for body in bench.MIX
    if body != bench.BODY
}


def child(kind: str, warm_up: int, requests: int) -> None:
    """In the measured process: warm the app up, then send `requests` requests of `kind`."""
    random.seed(0)  # the same draws in both runs, up to the warm-up's end (unseeded requests use this generator)
    if kind == "bare Starlette (baseline)":
        namespace: dict[str, Any] = {}
        exec(bench.BARE, namespace)
        app = namespace["app"]
    else:
        from portkey_completions.app import create_app

        app = create_app(openai_compatible=True, access_log=True)
    sys.stderr = io.StringIO()  # the access log's lines
    body = KINDS[kind]
    uvloop.run(bench_asgi._per_request(app, warm_up, body))
    if requests:
        uvloop.run(bench_asgi._per_request(app, requests, body, warm_up=0))


def instructions(kind: str, warm_up: int, requests: int) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--child", kind, "--warm-up", str(warm_up), "--requests", str(requests),
    ]  # fmt: skip
    # A fixed hash seed: both runs of a kind then do the same start-up work, to the instruction.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stderr
    [line] = [line for line in out.splitlines() if "I   refs:" in line or "I refs:" in line]
    return int(line.rsplit(":", 1)[1].replace(",", "").strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests counted (default: %(default)s)")
    parser.add_argument("--warm-up", type=int, default=3000, help="requests before (default: %(default)s)")
    parser.add_argument("--only", nargs="*", choices=list(KINDS), help="these kinds only (default: all)")
    parser.add_argument("--child", choices=list(KINDS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.warm_up, args.requests)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: `apt-get install valgrind` (Debian's package)")
    kinds = args.only or list(KINDS)
    rows = {}
    for kind in kinds:
        base = instructions(kind, args.warm_up, 0)
        rows[kind] = (instructions(kind, args.warm_up, args.requests) - base) / args.requests
    baseline = rows.get("bare Starlette (baseline)")
    width = max(len(kind) for kind in rows)
    print(f"portkey-stub bench-instructions (cachegrind; {args.requests} requests after {args.warm_up})")
    for kind, count in rows.items():
        ratio = f"{count / baseline:8.2f} x baseline" if baseline else ""
        print(f"{kind:<{width}}  {count:>12,.0f} instructions/request  {ratio}")


if __name__ == "__main__":
    main()
