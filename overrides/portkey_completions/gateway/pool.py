"""The gateway's connections to upstreams: pooled, and, for custom hosts, pinned to checked addresses.

The gateway speaks to httpcore, httpx's own transport, directly. httpx's client layers (cookies,
auth and redirect hooks, its request and response models) were about a third of a forwarded
request's time in a profile, and the gateway needs none of them: it sends a prepared body and
passes bytes back. Nor should a gateway keep cookies: httpx's client would have replayed one
caller's upstream cookies to the next caller.

Two pools per event loop:
- `trusted`: upstreams from the store, chosen by the operator, dialled as named;
- `custom`: hosts the caller chose. Its network backend (`Pinned`) resolves the name once,
  checks every address (`hosts.address`), and dials the checked one. A name that resolves to a
  public address for the check and a private one a moment later (DNS rebinding) cannot slip
  through, since nothing resolves it again. TLS still verifies the certificate for, and sends
  SNI with, the URL's host name: httpcore takes those from the URL, not from the address dialled.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Iterable

import httpcore

from . import hosts

# What httpcore raises for a connection that failed or broke; everything else is a bug.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.TimeoutException,
    httpcore.UnsupportedProtocol,
)


class Pinned(httpcore.AsyncNetworkBackend):
    """A network backend that only dials addresses the SSRF rules allow, checked as they are dialled."""

    def __init__(self, trusted: Iterable[str], resolve: hosts.Resolve | None = None) -> None:
        self._trusted = tuple(trusted)
        self._resolve = resolve or hosts.getaddrinfo
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            address = await hosts.address(host, port, self._trusted, self._resolve)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class Pools:
    """The two pools of one event loop."""

    def __init__(self, trusted_hosts: Iterable[str]) -> None:
        self.trusted = _pool(None)
        self.custom = _pool(Pinned(trusted_hosts))


def _pool(backend: httpcore.AsyncNetworkBackend | None) -> httpcore.AsyncConnectionPool:
    # httpx's default limits, which the gateway had before it spoke to httpcore.
    return httpcore.AsyncConnectionPool(
        max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0, network_backend=backend
    )
