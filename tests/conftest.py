"""Shared fixtures: the app in-process, and real servers on loopback, each started only by the tests that ask.

Constants and the hypothesis profile are in `support`; starting and waiting for servers is
`portkey_completions.testing.serving`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import pytest

from portkey_completions.testing import credentials, serving
from portkey_completions.testing.serving import free_port, process
from support import ALTERNATIVES, BASE, FUZZ_STATUSES, SCRIPTED_SERVER
from support.browser import chromium
from support.scripted import Scripted


def pytest_terminal_summary(terminalreporter):
    if FUZZ_STATUSES:
        line = ", ".join(f"{status}: {count}" for status, count in sorted(FUZZ_STATUSES.items()))
        terminalreporter.write_line(f"schemathesis status codes: {line}")


@pytest.fixture(scope="session")
def app():
    """The server app, validating its own responses against the spec."""
    from portkey_completions.app import create_app

    return create_app(validate_responses=True)


@pytest.fixture(scope="session")
def client(app):
    """A synchronous in-process client (starlette TestClient) for semantics."""
    with app.test_client() as c:
        yield c


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """Base URL of `portkey-stub serve` running in its own process on loopback."""
    with serving.stub("--validate-responses", "--openai-compatible", "--log-level", "warning") as url:
        yield url


@pytest.fixture
def start_stub() -> Iterator[Callable[..., str]]:
    """A factory: `start_stub("--store", path, …)` starts `portkey-stub serve` with these flags; returns its URL.

    Keywords go to `serving.stub` (port=, output=, started=, env=). Every server it started
    stops when the test ends.
    """
    with contextlib.ExitStack() as stack:
        yield lambda *flags, **options: stack.enter_context(serving.stub(*map(str, flags), **options))


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """A second `portkey-stub serve --openai-compatible`: the upstream behind a custom host in the tests."""
    with serving.stub("--openai-compatible", "--log-level", "warning") as url:
        yield url


@pytest.fixture(scope="session")
def header_sets(upstream: str) -> dict[str, dict[str, str]]:
    """Each auth alternative's headers (`support.ALTERNATIVES`), the custom host's pointing at `upstream`."""
    return {name: credentials.headers(name, custom_host=f"{upstream}{BASE}") for name in ALTERNATIVES}


@pytest.fixture
def browser(tmp_path) -> Iterator[str]:
    """Headless Chromium's DevTools endpoint (support.browser): skipped without chromium, a failure under CI."""
    with chromium(tmp_path) as devtools:
        yield devtools


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[str]:
    """Base URL of tests/support/scripted_server.py: an upstream whose answers each test scripts."""
    port = free_port()
    with process([sys.executable, str(SCRIPTED_SERVER), str(port)], port, ready_path="/__log") as url:
        yield url


@pytest.fixture
def scripted(scripted_server: str) -> Scripted:
    """The scripted upstream's client: `scripted.script([...])` its next answers, `scripted.log()` what it received."""
    return Scripted(scripted_server)


TIERS = ("unit", "contract", "wire", "harness")


def pytest_collection_modifyitems(items):
    # The folder is the tier: `pytest -m unit` and `pytest tests/unit` select the same tests.
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(tier)
