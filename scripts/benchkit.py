"""What the benchmark scripts share: free ports, a server process on loopback, timing, percentiles."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

STUB = [sys.executable, "-m", "portkey_completions.cli", "serve", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: str | None, argv: list[str]) -> list[str]:
    """argv on one CPU core (taskset), where there is more than one to choose from."""
    if core is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return argv
    return ["taskset", "-c", core, *argv]


@contextlib.contextmanager
def server(argv: list[str], port: int, *, core: str | None = None, cwd: str | None = None) -> Iterator[str]:
    """Run a server process until the block ends; yield its base URL once it answers."""
    proc = subprocess.Popen(pinned(core, argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{argv} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(client: httpx.Client, url: str, headers: dict[str, str], body: dict[str, object], stream: bool) -> float:
    """Seconds for one request, to the last byte."""
    start = time.perf_counter()
    if stream:
        with client.stream("POST", url, json={**body, "stream": True}, headers=headers) as response:
            for _ in response.iter_raw():
                pass
    else:
        response = client.post(url, json=body, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
