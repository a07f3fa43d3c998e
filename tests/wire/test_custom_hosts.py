"""Custom-host safety (SSRF): a host the caller names is checked where the gateway dials it.

Against `portkey-stub serve` (without a store custom hosts are still forwarded, and checked) and
in-process apps whose resolver the test controls.
"""

from __future__ import annotations

import asyncio

import pytest

from portkey_completions.app import create_app
from portkey_completions.gateway import hosts
from support import BASE, COMPLETIONS, calls

KEY = {"x-portkey-api-key": "pk-gw"}
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 5}


REFUSED = [
    "http://169.254.169.254/latest/meta-data",
    "http://0x7f000001/v1",
    "http://2130706433/v1",
    "http://0177.0.0.1/v1",
    "http://127.1/v1",
    "http://[::ffff:10.0.0.1]/v1",
    "http://user@example.com/v1",
    "http://user:pw@127.0.0.1:8000/v1",
    "http://10.0.0.1/v1",
    "http://192.168.1.1/v1",
    "http://[fe80::1]/v1",
    "http://metadata.google.internal/computeMetadata",
    "ftp://example.com/v1",
    "http://0.0.0.0/v1",
]


@pytest.mark.parametrize("url", REFUSED)
def test_ssrf_custom_hosts_are_refused(server, url):
    headers = {"Authorization": "Bearer sk", "x-portkey-provider": "openai", "x-portkey-custom-host": url}
    response = calls.post(server, BODY, auth=headers)
    assert response.status_code == 400, url
    assert response.json()["error"]["code"] == "custom_host_refused"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost/v1", "http://[::1]:9/v1", "https://8.8.8.8/v1"]
)
def test_trusted_and_public_hosts_pass_the_check(url):
    hosts.check_url(url)


def test_the_trusted_list_is_literal():
    with pytest.raises(hosts.HostRefused):
        hosts.check_url("http://127.0.0.1:8000/v1", trusted=())
    hosts.check_url("http://10.1.2.3/v1", trusted=("10.1.2.3",))


def test_a_name_that_resolves_to_loopback_is_refused_where_it_is_dialled(upstream):
    """`localhost` is a name, not an address: untrusted, it is resolved (to 127.0.0.1) and refused."""
    app = create_app(trusted_hosts=("127.0.0.1",))
    port = upstream.rsplit(":", 1)[1]
    headers = {**KEY, "Authorization": "Bearer sk", "x-portkey-provider": "openai"}
    with app.test_client() as client:
        refused = client.post(
            COMPLETIONS, json=BODY, headers={**headers, "x-portkey-custom-host": f"http://localhost:{port}{BASE}"}
        )
        trusted = client.post(
            COMPLETIONS, json=BODY, headers={**headers, "x-portkey-custom-host": f"http://127.0.0.1:{port}{BASE}"}
        )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("custom_host_refused", "x-portkey-custom-host")
    assert "localhost (127.0.0.1)" in error["message"] and "loopback" in error["message"]
    assert trusted.status_code == 200, trusted.text


def test_the_address_checked_is_the_address_dialled():
    """DNS rebinding: a resolver that answers public, then private. Each connection resolves once,
    and dials what it checked; the second connection is refused, not sent to the private address."""
    answers = iter([["8.8.8.8"], ["10.0.0.7"]])
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    async def main() -> tuple[str, str]:
        first = await hosts.address("rebind.example", 443, (), resolve)
        try:
            await hosts.address("rebind.example", 443, (), resolve)
        except hosts.HostRefused as exc:
            return first, str(exc)
        return first, "not refused"

    first, second = asyncio.run(main())
    assert first == "8.8.8.8" and lookups == ["rebind.example", "rebind.example"]
    assert "rebind.example (10.0.0.7)" in second and "private" in second


def test_a_name_with_any_private_address_is_refused():
    async def resolve(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "::ffff:169.254.169.254"]

    with pytest.raises(hosts.HostRefused, match="link-local"):
        asyncio.run(hosts.address("mixed.example", 80, (), resolve))
