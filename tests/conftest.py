"""Shared fixtures: the app in-process, and a real uvicorn server on loopback."""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

import httpx
import pytest

from portkey_completions.app import create_app

API_KEY = {"x-portkey-api-key": "pk-test"}

# One complete header set per auth alternative of the spec, in spec order.
ALTERNATIVES = {
    "virtual_key": {**API_KEY, "x-portkey-virtual-key": "vk-test"},
    "provider": {**API_KEY, "Authorization": "Bearer sk-test", "x-portkey-provider": "openai"},
    "config": {**API_KEY, "x-portkey-config": '{"provider": "openai", "api_key": "sk-test"}'},
    "custom_host": {
        **API_KEY,
        "Authorization": "Bearer sk-test",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": "http://127.0.0.1:9/v1",
    },
}
AUTH = ALTERNATIVES["virtual_key"]

# Banning <|endoftext|> (a real logit_bias) makes a choice run to max_tokens: finish_reason "length".
NO_END = {"100257": -100}

BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0}


# Status codes schemathesis saw, filled by test_schemathesis.py and printed at the end of the run.
FUZZ_STATUSES: collections.Counter[int] = collections.Counter()


def pytest_terminal_summary(terminalreporter):
    if FUZZ_STATUSES:
        line = ", ".join(f"{status}: {count}" for status, count in sorted(FUZZ_STATUSES.items()))
        terminalreporter.write_line(f"schemathesis status codes: {line}")


@pytest.fixture(scope="session")
def app():
    """The server app, validating its own responses against the spec."""
    return create_app(validate_responses=True)


@pytest.fixture(scope="session")
def client(app):
    """A synchronous in-process client (starlette TestClient) for semantics."""
    with app.test_client() as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(
    argv: list[str],
    port: int,
    ready_path: str,
    output: IO[str] | None = None,
    started: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[str]:
    """Run a server process on loopback until the block ends; yield its base URL once it answers.

    `output` receives the process's stdout and stderr (to read its log); by default they are the test's.
    `started`, if given, gets the process (to signal it).
    """
    streams = {} if output is None else {"stdout": output, "stderr": subprocess.STDOUT}
    proc = subprocess.Popen(argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **streams)
    if started is not None:
        started.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[1:3]} exited with {proc.returncode}")
            try:
                httpx.get(url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[1:3]} did not start within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """Base URL of `portkey-stub serve` running in its own process on loopback."""
    port = _free_port()
    argv = [sys.executable, "-m", "portkey_completions.cli", "serve", "--port", str(port), "--validate-responses"]
    with running([*argv, "--openai-compatible", "--log-level", "warning"], port, "/") as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def upstream() -> Iterator[str]:
    """A second `portkey-stub serve --openai-compatible`: the upstream behind every custom host in the tests."""
    port = _free_port()
    argv = [sys.executable, "-m", "portkey_completions.cli", "serve", "--port", str(port), "--openai-compatible"]
    with running([*argv, "--log-level", "warning"], port, "/") as url:
        ALTERNATIVES["custom_host"]["x-portkey-custom-host"] = f"{url}/v1"
        yield url


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[str]:
    """Base URL of tests/scripted_server.py: an upstream whose answers each test scripts."""
    port = _free_port()
    script = os.path.join(os.path.dirname(__file__), "scripted_server.py")
    with running([sys.executable, script, str(port)], port, "/__log") as url:
        yield url
