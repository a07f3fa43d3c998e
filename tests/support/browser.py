"""Headless Chromium, driven over the Chrome DevTools Protocol: pages the project serves, tested in a real browser."""

from __future__ import annotations

import base64
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

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, driven over the Chrome DevTools Protocol; the events it sends are kept (`events`)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") != self.ids:
                self.events.append(message)
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def goto(self, url: str) -> None:
        """Load `url`, listening from the start for what the page says in its console and throws."""
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def errors(self) -> list[str]:
        """Console errors, exceptions and failed loads the page reported."""
        self.evaluate("1")  # the events sent so far are read
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif event.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(str(params.get("args")))
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        try:
            return wait_until(lambda: self.evaluate(expression), timeout=timeout, what=expression, interval=0.1)
        except AssertionError:
            shown = self.evaluate("document.body.innerText")
            raise AssertionError(f"never true in the page: {expression}; the page reads: {shown!r}") from None


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[str]:
    """Headless Chromium (Debian's), its DevTools endpoint's URL; the `browser` fixture's."""
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


def screenshot(page: Page, path: Path) -> Path:
    """The page as a PNG at `path` (an artifact of the run)."""
    data = page.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    path.write_bytes(base64.b64decode(data))
    return path
