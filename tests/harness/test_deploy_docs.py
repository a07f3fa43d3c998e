"""docs/deploy.md's snippets run as written: the store loads its keys from the environment, each
`docker run` line serves (with podman, on a port of the test's own), and the Secret the Kubernetes
section creates supplies every key the base's store reads.

The rest of the page's commands run in the tests that own them: `pip install .` in
test_fresh_install, `make image` in the `image` fixture, `docker compose up` in test_compose and
`scripts/kube_play.py` in test_kubernetes (from this page's lines).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid

import httpx
import pytest
import yaml

from portkey_completions.gateway.store import Store
from portkey_completions.testing.serving import free_port, wait_until
from support import BASE, BODY, ROOT, pages
from support.containers import GROUP, engine, readyz
from support.kube import KUBECTL, one, render

PAGE = ROOT / "docs" / "deploy.md"
ENV = {"PORTKEY_API_KEY": "pk-team", "OPENAI_KEY": "sk-upstream"}


def store_snippet() -> str:
    [store] = [s for s in pages.snippets(PAGE, "yaml") if "virtual_keys" in s]
    return store


def test_the_store_snippet_loads_its_keys_from_the_environment(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "store.yaml").write_text(store_snippet())
    store = Store.load(tmp_path / "store.yaml")
    assert store.accepts("pk-team") and not store.accepts("${PORTKEY_API_KEY}")
    vk = store.virtual_keys["vk-prod"]
    assert (vk.provider, vk.api_key, store.base_url(vk.provider)) == (
        "openai",
        "sk-upstream",
        "https://api.openai.com/v1",
    )


@GROUP
@pytest.mark.parametrize("command", pages.commands(PAGE, "docker run"))
def test_each_docker_run_line_serves(tmp_path, image, command):
    """The line with podman for docker, on a free port, this run's image, detached and named."""
    (tmp_path / "store.yaml").write_text(store_snippet())
    port, name = free_port(), f"portkey-stub-doc-{uuid.uuid4().hex[:8]}"
    args = shlex.split(command.replace("$PWD", str(tmp_path)))
    assert args[:2] == ["docker", "run"] and args[-1] == "portkey-stub", command
    assert "127.0.0.1:8787:8787" in args, "a published port is on loopback"
    args = [a.replace("127.0.0.1:8787:", f"127.0.0.1:{port}:") for a in args[2:-1]]
    # -e NAME passes the caller's variable: the test's environment holds the store's keys.
    engine("run", "--detach", "--name", name, *_with_env(args), image)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: readyz(url) == 200, timeout=60, what="the container's /readyz 200")
        with_store = "PORTKEY_STUB_STORE" in command
        unknown = _post(url, ENV["PORTKEY_API_KEY"] if with_store else "pk-any", "vk-unknown")
        if with_store:  # the store's key passes, and only its virtual keys are known
            assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_virtual_key", unknown.text
            assert _post(url, "pk-other", "vk-prod").json()["error"]["code"] == "invalid_api_key"
        else:  # no store: any key, and the stub answers
            assert unknown.status_code == 200 and unknown.json()["choices"][0]["text"]
    finally:
        engine("rm", "--force", name, check=False)


def _post(url: str, api_key: str, virtual_key: str) -> httpx.Response:
    headers = {"x-portkey-api-key": api_key, "x-portkey-virtual-key": virtual_key}
    return httpx.post(f"{url}{BASE}/completions", json=BODY, headers=headers, timeout=10)


def _with_env(args: list[str]) -> list[str]:
    """`-e NAME` given its value from ENV: podman, unlike docker, passes no variable unset in its own environment."""
    return [f"{a}={ENV[a]}" if before == "-e" and a in ENV else a for before, a in zip(["", *args], args, strict=False)]


def test_the_kubernetes_secret_supplies_every_key_the_base_store_reads():
    docs = render("base")  # skips without kubectl (fails under CI)
    [create] = pages.commands(PAGE, "kubectl create secret")
    args = shlex.split(create)
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, *args[1:], "--dry-run=client", "-o", "yaml"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    secret = yaml.safe_load(out.stdout)
    [server] = one(docs, "Deployment", "portkey-stub")["spec"]["template"]["spec"]["containers"]
    assert {e["secretRef"]["name"] for e in server["envFrom"] if "secretRef" in e} == {secret["metadata"]["name"]}
    store = one(docs, "ConfigMap", "portkey-stub-store")["data"]["store.yaml"]
    names = set(re.findall(r"\$\{([A-Z_]+)\}", store)) - {"NAME"}  # ${NAME} is the comment's
    assert names and names <= set(secret["data"])
    [apply] = pages.commands(PAGE, "kubectl apply")
    assert (ROOT / shlex.split(apply)[-1]).is_dir()
