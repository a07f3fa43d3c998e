"""A server on loopback, and knowing when it answers: the one way for the pytest plugin, the tests and the scripts.

`stub` runs `portkey-stub serve` with flags in its own process (`stub_command` is its command
line); `process` runs any server command (a baseline app, a scripted upstream) likewise; `thread`
runs an ASGI app under uvicorn in a thread of this one. Each returns once the server answers, and
stops it when the block ends. `wait_until` is the polling loop every
wait for an event uses, so that no test sleeps a fixed time and hopes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

T = TypeVar("T")

START_TIMEOUT = 30.0  # seconds a server may take to answer its first request


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something true, and return that; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def wait_until_up(url: str, alive: Callable[[], bool] = lambda: True, timeout: float = START_TIMEOUT) -> None:
    """Return once `url` answers an HTTP request (any status).

    Raises:
        RuntimeError: `alive()` turned false (the server exited), or `timeout` passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if not alive():
                raise RuntimeError(f"the server for {url} exited before it answered") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server for {url} did not answer within {timeout} s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def process(
    argv: Sequence[str],
    port: int,
    *,
    ready_path: str = "/",
    output: IO[Any] | int | None = None,
    cwd: str | Path | None = None,
    started: list[subprocess.Popen[bytes]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run `argv` (a server listening on 127.0.0.1:port) until the block ends; yield its base URL once it answers.

    Args:
        output: where the process's stdout and stderr go (a file, or subprocess.DEVNULL); None: ours.
        started: if given, gets the process (for a test that signals it).
        env: variables to set for the process, beside ours.
    """
    streams: dict[str, Any] = {} if output is None else {"stdout": output, "stderr": subprocess.STDOUT}
    variables = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(list(argv), cwd=cwd, env=variables, **streams)
    if started is not None:
        started.append(proc)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + ready_path, alive=lambda: proc.poll() is None)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stub_command(*args: str) -> list[str]:
    """`portkey-stub ARGS…`, run by this interpreter (so by the environment the tests run in)."""
    return [sys.executable, "-m", "portkey_completions.cli", *args]


@contextlib.contextmanager
def stub(
    *flags: str,
    port: int | None = None,
    output: IO[Any] | int | None = None,
    cwd: str | Path | None = None,
    started: list[subprocess.Popen[bytes]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """`portkey-stub serve --port PORT FLAGS…` until the block ends; yield its root URL once it answers.

    Args:
        port: the port to listen on; None: a free one.
        output, cwd, started, env: as for `process`.
    """
    port = port or free_port()
    argv = stub_command("serve", "--port", str(port), *flags)
    with process(argv, port, output=output, cwd=cwd, started=started, env=env) as url:
        yield url


@contextlib.contextmanager
def thread(app: Any, *, log_level: str = "warning") -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread of this process until the block ends; yield its base URL."""
    import uvicorn  # only the server needs it

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="auto"))
    runner = threading.Thread(target=server.run, name="portkey-stub", daemon=True)
    runner.start()
    try:
        wait_until(
            lambda: server.started or not runner.is_alive(),
            timeout=START_TIMEOUT,
            what="uvicorn's start",
            interval=0.01,
        )
        if not server.started:
            raise RuntimeError("the server thread ended before it started serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        runner.join(timeout=10)


@contextlib.contextmanager
def redis_server(directory: str | Path, port: int | None = None) -> Iterator[str]:
    """Run Debian's `redis-server` on 127.0.0.1 until the block ends; yield its URL once it answers PING.

    It keeps an append-only file in `directory` (fsync'd every second, Redis's default; a clean
    stop writes all of it), so that a restart on the same directory and port finds the state it
    had, as a production Redis with persistence would.
    """
    import redis

    port = port or free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"]
    argv += ["--appendfsync", "everysec", "--dir", str(directory), "--logfile", ""]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode} before it answered")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_until(answers, timeout=START_TIMEOUT, what="redis-server's start")
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
