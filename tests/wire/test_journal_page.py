"""The journal page in headless Chromium: load it, send a request, see it appear (over the DevTools protocol)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from portkey_completions.testing.serving import wait_until
from support import BASE

pytestmark = pytest.mark.wire

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, driven over the Chrome DevTools Protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = 0

    def evaluate(self, expression: str) -> Any:
        self.ids += 1
        params = {"expression": expression, "returnByValue": True}
        self.ws.send(json.dumps({"id": self.ids, "method": "Runtime.evaluate", "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message.get("id") == self.ids:
                return message["result"]["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        try:
            return wait_until(lambda: self.evaluate(expression), timeout=timeout, what=expression, interval=0.1)
        except AssertionError:
            shown = self.evaluate("document.body.innerText")
            raise AssertionError(f"never true in the page: {expression}; the page reads: {shown!r}") from None


@pytest.fixture
def browser(tmp_path: Path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test the page: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    profile = tmp_path / "profile"
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    debugging = ["--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}"]
    command = [CHROMIUM, *flags, *debugging, "about:blank"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"

        def started() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("chromium exited before it started its DevTools endpoint")
            return port_file.exists() and bool(port_file.read_text().strip())

        wait_until(started, timeout=30, what="chromium's DevTools endpoint", interval=0.1)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def open_page(devtools: str, url: str) -> Iterator[Page]:
    target = httpx.put(f"{devtools}/json/new?{url}", timeout=10).json()
    with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
        yield Page(ws)


def test_the_journal_page_shows_requests_live(portkey_stub, browser):
    root = portkey_stub.base_url.removesuffix(BASE)
    with open_page(browser, f"{root}/__admin/") as page:
        _watch_the_page(portkey_stub, page)


def _watch_the_page(portkey_stub, page: Page) -> None:
    page.wait_for("document.getElementById('summary')?.textContent.includes('0 requests')")
    with portkey_stub.scenario(prompt="chromium", text="seen", ttft=0.2):
        portkey_stub.client().create(model="gpt-3.5-turbo-instruct", prompt="chromium sees me")
    row = page.wait_for(
        "[...document.querySelectorAll('#rows tr')].map(r => r.innerText).find(t => t.includes('chromium sees me'))"
    )
    assert "200" in row and "virtual_key" in row and "stub" in row
    # A filter hides what does not match, live.
    page.evaluate("const f = document.getElementById('f-status'); f.value = '4xx'; f.dispatchEvent(new Event('input'))")
    page.wait_for("document.querySelectorAll('#rows tr').length === 0")


def test_the_page_refuses_non_loopback_callers_without_the_token():
    from portkey_completions.app import create_app

    with create_app(admin_token="page-token").test_client() as client:  # "testclient" is not loopback
        assert client.get("/__admin/").status_code == 403
        page = client.get("/__admin/", headers={"x-admin-token": "page-token"})
        assert page.status_code == 200 and "<script>" in page.text
