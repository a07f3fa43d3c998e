"""Podman (or docker) for the tests of what ships as containers: the image, the Kubernetes manifests,
compose.yaml and the Testcontainers module.

On these machines `../shared/container/base-image.sh` installs podman and makes the local
`python:3.11-slim`; `.ci/run` calls it, so CI always runs these tests (elsewhere they skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import httpx
import pytest

ENGINE = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")

# The tests that build or run an image share one build per pytest process; under xdist
# (`--dist loadgroup`) this group keeps them on one worker, so the image is built once.
GROUP = pytest.mark.xdist_group("containers")


def engine(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run podman (or docker) with `args`; its output as text."""
    assert ENGINE is not None
    return subprocess.run([ENGINE, *args], capture_output=True, text=True, check=check, timeout=timeout)


def require(tool: str | None, what: str, how: str) -> None:
    """Skip without `tool` on a developer's machine; fail under CI, which must install it (`how`)."""
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test {what}: {how}")
        pytest.skip(f"{what} needs a tool not installed here ({how})")


def readyz(url: str) -> int | None:
    """The status `url`/readyz answers; None while nothing answers (a container still starting)."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code
    except httpx.TransportError:
        return None
