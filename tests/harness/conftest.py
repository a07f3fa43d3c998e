"""The image the container tests share: built once per pytest process, under a tag of its own."""

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
