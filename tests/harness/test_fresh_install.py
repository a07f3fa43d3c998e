"""A first run as a new user makes it: a new venv, `pip install ".[pytest]"` alone, then `portkey-stub
serve` and a pytest run with the plugin. Neither may print a warning: the versions pip resolves today
are not the dev venv's (no httpx2 there, for one), and a warning at every start is a defect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import venv
from pathlib import Path

import pytest

from portkey_completions.testing.serving import free_port, wait_until_up
from support import BODY, ROOT, calls

# A user's shell: no variable of this test run (CI, PYTHONPATH, the dev venv's) reaches the new install.
pytestmark = pytest.mark.xdist_group("fresh-install")  # one venv, the tests in file order

USER_ENV = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
USERS_TEST = """
def test_the_fixture(portkey_stub):
    with portkey_stub.scenario(prompt="^Hi", text="Hello."):
        answer = portkey_stub.openai().completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi", max_tokens=3)
    assert answer.choices[0].text == "Hello."
"""


def pip_install(where: Path, requirement: str) -> None:
    # Our own environment's pip settings (an index, a cache) hold; nothing of the dev venv does.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    installed = subprocess.run(
        [str(where / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", requirement],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A venv with `pip install .` alone: the package's own dependencies, as pip resolves them now."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(where, with_pip=True)
    pip_install(where, str(ROOT))
    return where


# In file order: the server first, from `pip install .` alone (the [pytest] extra's openai brings
# packages, httpx2 among them, that would hide a warning the bare install prints).
def test_serve_from_a_fresh_install_prints_no_warning(fresh, tmp_path):
    store = tmp_path / "store.yaml"  # with a store: the notice that any key passes is a warning by design
    store.write_text("api_keys: [pk-new]\nvirtual_keys: {vk-new: {provider: stub}}\n", encoding="utf-8")
    port = free_port()
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [str(fresh / "bin" / "portkey-stub"), "serve", "--port", str(port), "--store", str(store)],
            stderr=stderr, stdout=subprocess.DEVNULL, cwd=tmp_path, env=USER_ENV,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/healthz", alive=lambda: server.poll() is None)
            auth = {"x-portkey-api-key": "pk-new", "x-portkey-virtual-key": "vk-new"}
            assert calls.post(url, BODY, auth=auth).status_code == 200
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
    text = log.read_text()
    assert "warning" not in text.lower(), text


def test_a_users_pytest_run_with_the_plugin_prints_no_warning(fresh, tmp_path):
    pip_install(fresh, f"{ROOT}[pytest]")  # the one documented extra for the plugin
    (tmp_path / "test_mine.py").write_text(USERS_TEST, encoding="utf-8")
    run = subprocess.run(
        [str(fresh / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=USER_ENV,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout and "warning" not in (run.stdout + run.stderr).lower(), run.stdout
