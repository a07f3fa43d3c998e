"""What the benchmark scripts share: free ports, a server process on loopback, timing, percentiles."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
def server(
    argv: list[str], port: int, *, core: str | None = None, cwd: str | None = None, log: Path | None = None
) -> Iterator[str]:
    """Run a server process until the block ends; yield its base URL once it answers.

    log: a file for the server's stdout and stderr (else they are discarded).
    """
    out = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(pinned(core, argv), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if log is not None:
            out.close()  # type: ignore[union-attr]


def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Return once the server at url answers; raise if it exits or takes over 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{proc.args} did not start") from None
            time.sleep(0.1)


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


def serving_pid(port: int) -> int:
    """The pid of the process listening on the port (the server, not taskset's wrapper)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    match = re.search(r"pid=(\d+)", out)
    if match is None:
        raise RuntimeError(f"no process listens on port {port}")
    return int(match.group(1))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
