"""The Testcontainers module (`portkey_completions.testing.container`) and `--portkey-stub-image`, against
Podman's Docker-compatible API socket (`podman system service`), as a user's CI would run them.

No registry is reachable here, so Testcontainers' reaper (Ryuk) image cannot be pulled: the run sets
TESTCONTAINERS_RYUK_DISABLED=true, the module removes its containers itself, and the test checks
that none is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.containers import ENGINE, GROUP, engine, require

pytestmark = GROUP

# A user's test file: the fixture on the image, and the module used directly with a mounted store.
USERS_TESTS = """
import os

import pytest

from portkey_completions.testing.container import PortkeyStubContainer

IMAGE = os.environ["STUB_IMAGE"]


def test_the_fixture_runs_on_the_image(portkey_stub):
    assert portkey_stub.app is None  # not in this process: a container of IMAGE
    with portkey_stub.scenario(prompt="^Summarize", text="Short."):
        answer = portkey_stub.openai().completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Summarize the minutes", max_tokens=5
        )
    assert answer.choices[0].text == "Short."
    portkey_stub.journal.assert_called_with(model="gpt-3.5-turbo-instruct")
    assert len(portkey_stub.journal.entries) == 1


def test_the_module_mounts_a_store_and_hands_out_namespaces(tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text("api_keys: [pk-ci]\\nvirtual_keys: {vk-ci: {provider: stub}}\\n")
    with PortkeyStubContainer(IMAGE, store=store) as stub:
        test = stub.namespace("module")
        with test.scenario(status=429, response_headers={"Retry-After": "1"}):
            with test.httpx() as http:
                headers = {"x-portkey-api-key": "pk-ci", "x-portkey-virtual-key": "vk-ci"}
                body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "max_tokens": 3}
                limited = http.post("/completions", json=body, headers=headers)
                assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
                stranger = {**headers, "x-portkey-api-key": "pk-x"}
                assert http.post("/completions", json=body, headers=stranger).status_code == 401
        assert [e["status"] for e in test.journal.entries] == [429, 401]
        with pytest.raises(AssertionError):
            test.journal.assert_called_with(model="davinci-002")
"""


@pytest.fixture(scope="session")
def docker_host(tmp_path_factory) -> Iterator[str]:
    """Podman's Docker-compatible API on a socket of this run's own; its DOCKER_HOST."""
    require(ENGINE if ENGINE and ENGINE.endswith("podman") else None, "Testcontainers on Podman's socket",
            ".ci/run installs podman (../shared/container/base-image.sh)")  # fmt: skip
    socket = tmp_path_factory.mktemp("podman") / "docker.sock"
    service = subprocess.Popen([ENGINE, "system", "service", "--time=0", f"unix://{socket}"])
    try:
        deadline = time.monotonic() + 30
        while not _pings(socket):
            assert service.poll() is None and time.monotonic() < deadline, "podman system service did not answer"
            time.sleep(0.2)
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.wait(timeout=30)


def _pings(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket))) as client:
            return client.get("http://d/_ping", timeout=2).text == "OK"
    except httpx.TransportError:
        return False


def test_a_users_suite_runs_on_the_image_through_testcontainers(image, docker_host, tmp_path):
    (tmp_path / "test_users.py").write_text(USERS_TESTS, encoding="utf-8")
    env = {
        **os.environ,
        "DOCKER_HOST": docker_host,
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        # These machines are themselves containers (/.dockerenv), which makes Testcontainers guess
        # Docker-in-Docker and look for a gateway; podman runs beside the tests, on this host.
        "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
        "STUB_IMAGE": image,
    }
    env.pop("CI", None)  # the user's run, not ours
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--portkey-stub-image={image}",
         "test_users.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout, run.stdout[-2000:]
    left = engine("ps", "--all", "--quiet", "--filter", f"ancestor={image}").stdout.split()
    assert not left, f"containers of {image} left behind: {left}"
