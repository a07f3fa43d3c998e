"""The images the container tests share: ours, built once per pytest process under a tag of its own, and Redis."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from support import ROOT
from support.containers import ENGINE, engine, require


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    require(ENGINE, "the image", ".ci/run installs podman (../shared/container/base-image.sh)")
    # A tag of this run's own: a user's `portkey-stub:latest` is never overwritten, nor raced for.
    tag = f"localhost/portkey-stub:test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "IMAGE_TAGS": tag}
    built = subprocess.run(["make", "image"], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield tag
    engine("rmi", "--force", tag, check=False)


@pytest.fixture(scope="session")
def redis_image() -> str:
    """Debian's redis-server as an image (scripts/redis-image.sh): the tag the podman overlay names."""
    require(ENGINE, "podman kube play", ".ci/run installs podman (../shared/container/base-image.sh)")
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "redis-image.sh")], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return "localhost/portkey-stub-redis:debian"
