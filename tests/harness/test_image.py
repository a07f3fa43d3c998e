"""The container image: `make image` builds it, it runs as its README says, and real clients complete against it.

Needs podman (or docker): `support.containers`; the `image` fixture is tests/harness/conftest.py's.
"""

from __future__ import annotations

import uuid

import openai

from portkey_completions.client import Completions
from portkey_completions.testing.serving import free_port, wait_until_up
from support import BASE
from support.containers import GROUP, engine

BASE_IMAGE = "docker.io/library/python:3.11-slim"
MAX_ADDED_BYTES = 100 * 1000 * 1000
pytestmark = GROUP


def test_the_image_adds_at_most_100_mb_to_its_base_and_runs_as_no_root(image):
    size = int(engine("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
    base = int(engine("image", "inspect", "--format", "{{.Size}}", BASE_IMAGE).stdout.strip())
    assert size - base <= MAX_ADDED_BYTES, f"the image adds {(size - base) / 1e6:.0f} MB to its base"
    user = engine("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user not in ("", "0", "root")
    listing = engine("run", "--rm", "--entrypoint", "sh", image, "-c", "ls /opt/portkey-stub/bin; "
                      "find /opt/portkey-stub -name '*.pyc' | head -1")  # fmt: skip
    assert "pip" not in listing.stdout.split() and ".pyc" not in listing.stdout, listing.stdout


def test_the_image_serves_completions_to_the_official_sdk_and_the_typed_client(image):
    port = free_port()
    name = f"portkey-stub-test-{uuid.uuid4().hex[:8]}"
    # The host's network (these machines have no bridge by default): the port is the host's.
    engine(
        "run", "--detach", "--name", name, "--network", "host",
        "--env", f"PORTKEY_STUB_PORT={port}", "--env", "PORTKEY_STUB_OPENAI_COMPATIBLE=true", image,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/healthz", timeout=60)
        started = engine("logs", name)
        assert "Warning" not in started.stdout + started.stderr, started.stderr  # a clean first run
        sdk = openai.OpenAI(base_url=f"{url}{BASE}", api_key="sk-provider", max_retries=0)
        completion = sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this", max_tokens=5, seed=1)
        assert completion.choices[0].text and completion.usage.completion_tokens <= 5
        with Completions(api_key="pk", virtual_key="vk", base_url=f"{url}{BASE}") as client:
            typed = client.create(model="gpt-3.5-turbo-instruct", prompt="Say this", max_tokens=5, seed=1)
        assert typed.choices[0].text == completion.choices[0].text  # one engine, one seed
        # SIGTERM (what `docker stop` sends) drains and exits 0.
        engine("stop", "--time", "20", name, timeout=60)
        state = engine("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert state == "0"
    finally:
        engine("rm", "--force", name, check=False)
