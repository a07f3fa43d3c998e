"""What the benchmark scripts share: free ports, a server process on loopback, timing, percentiles."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from portkey_completions.core import spec
from portkey_completions.testing import serving

# Where completions are served, as the spec says (`servers`): a moved base path moves every script.
BASE = spec.base_path()
COMPLETIONS = BASE + "/completions"

SERVER_CORE, LOAD_CORE = "0", "1"  # servers on one core, the load generator on the other
STUB = serving.stub_command("serve", "--log-level", "warning")


def pinned(core: str | None, argv: list[str]) -> list[str]:
    """argv on one CPU core (taskset), where there is more than one to choose from."""
    if core is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return argv
    return ["taskset", "-c", core, *argv]


@contextlib.contextmanager
def server(
    argv: list[str], port: int, *, core: str | None = None, cwd: str | None = None, log: Path | None = None
) -> Iterator[str]:
    """Run a server process, pinned to `core`, until the block ends; yield its base URL once it answers.

    log: a file for the server's stdout and stderr (else they are discarded).
    """
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("w")) if log is not None else subprocess.DEVNULL
        yield stack.enter_context(serving.process(pinned(core, argv), port, output=out, cwd=cwd))


def find_wrk() -> str:
    """wrk's path. Installing it is .ci/run's job (Debian's package), never a script's."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian's package; .ci/run installs it)")
    return found


def wrk(wrk_bin: str, url: str, seconds: float, connections: int, script: str) -> dict[str, float]:
    """One wrk run against url, on the load core: req/s, p50 and p99 (ms), requests, errors, non-2xx."""
    command = [wrk_bin, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script, "--latency", url]
    out = subprocess.run(pinned(LOAD_CORE, command), capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The process's CPU time so far, (user, system), in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # utime and stime: the stat line's 14th and 15th


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@contextlib.contextmanager
def redis(directory: str, core: str | None = LOAD_CORE) -> Iterator[str | None]:
    """A redis-server for the shared-state rows, pinned to `core`; None where Debian's redis-server is missing."""
    if shutil.which("redis-server") is None:
        yield None
        return
    import redis as redis_py

    with serving.redis_server(directory) as url:
        pid = redis_py.Redis.from_url(url).info("server")["process_id"]
        if core is not None and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
            subprocess.run(["taskset", "-pc", core, str(pid)], check=True, capture_output=True)
        yield url
