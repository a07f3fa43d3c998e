"""The journal page in headless Chromium: load it, send a request, see it appear (over the DevTools protocol)."""

from __future__ import annotations

import pytest

from support import BASE
from support.browser import Page, open_page

pytestmark = pytest.mark.wire


def test_the_journal_page_shows_requests_live(portkey_stub, browser):
    root = portkey_stub.base_url.removesuffix(BASE)
    with open_page(browser, f"{root}/__admin/") as page:
        _watch_the_page(portkey_stub, page)


def _watch_the_page(portkey_stub, page: Page) -> None:
    page.wait_for("document.getElementById('summary')?.textContent.includes('0 requests')")
    with portkey_stub.scenario(prompt="chromium", text="seen", ttft=0.2):
        portkey_stub.client().create(model="gpt-3.5-turbo-instruct", prompt="chromium sees me")
    # The row shows while the request runs, and is brought up to date when it ends: wait for the end.
    row = page.wait_for(
        "[...document.querySelectorAll('#rows tr')].map(r => r.innerText)"
        ".find(t => t.includes('chromium sees me') && t.includes('200'))"
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
