"""compose.yaml with podman-compose, Redis started after the server: the server waits for it
(`--state-wait`), unready meanwhile, then serves.

The images are the run's own (`image`) and Debian's redis-server (scripts/redis-image.sh), through
the variables compose.yaml reads; the port is published on loopback only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from portkey_completions.testing.serving import free_port, wait_until
from support import BODY, ROOT, calls
from support.containers import GROUP, engine, readyz, require

pytestmark = GROUP


@pytest.fixture
def compose(image, redis_image) -> Iterator[tuple[list[str], dict[str, str], str]]:
    """The podman-compose command of a project of this test's own, its environment and the server's URL."""
    require(shutil.which("podman"), "compose.yaml", ".ci/run installs podman (../shared/container/base-image.sh)")
    port = free_port()
    env = {
        **os.environ,
        "PORTKEY_STUB_IMAGE": image,
        "REDIS_IMAGE": redis_image,
        "PORTKEY_STUB_PUBLISH": f"127.0.0.1:{port}",
    }
    command = [sys.executable, "-m", "podman_compose", "--project-name", f"pkt-{uuid.uuid4().hex[:8]}"]
    command += ["--file", str(ROOT / "compose.yaml")]
    try:
        yield command, env, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([*command, "down", "--timeout", "5"], env=env, capture_output=True, timeout=120)


def test_the_server_started_before_redis_waits_for_it_then_serves(compose):
    command, env, url = compose
    up = [*command, "up", "--detach"]
    started = subprocess.run([*up, "--no-deps", "portkey-stub"], env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    # No Redis yet: listening, and not ready, with the reason.
    wait_until(lambda: readyz(url) is not None, timeout=60, what="the server listening")
    waiting = httpx.get(f"{url}/readyz", timeout=5)
    assert waiting.status_code == 503 and "unreachable" in waiting.json()["reasons"][0], waiting.text
    redis = subprocess.run([*up, "redis"], env=env, capture_output=True, text=True, timeout=120)
    assert redis.returncode == 0, redis.stderr[-2000:]
    wait_until(lambda: readyz(url) == 200, timeout=40, what="ready once Redis is up")
    answer = calls.post(url, BODY)
    assert answer.status_code == 200, answer.text
    project = command[command.index("--project-name") + 1]
    assert project in engine("ps", "--format", "{{.Names}}").stdout  # this project's server answered
