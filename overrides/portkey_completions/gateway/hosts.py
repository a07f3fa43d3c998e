"""Which custom hosts a request may send the gateway to (SSRF).

A custom host is a URL the caller chose, so the gateway would otherwise fetch any address its
own network can reach. The rules:

- http or https only, in ASCII, with a valid host name, and no user info (`http://user@host`);
- a host written as an IP address must be in its canonical form: the decimal, hex, octal and
  shortened spellings (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are refused outright;
- loopback, private, link-local (cloud metadata, 169.254.169.254), multicast, reserved and
  unspecified addresses are refused, also inside IPv6 (`[::ffff:10.0.0.1]`), and so is a host
  name that resolves to one, unless the host is on the trusted list, matched literally;
- the name check happens where the connection is made (`address`, used by `pool.Pinned`): the
  address checked is the address dialled;
- the gateway follows no redirects (it speaks to httpcore, which has none to follow).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from portkey_completions.call.errors import ServerAPIError

DEFAULT_TRUSTED = ("localhost", "127.0.0.1", "::1")

# Host names that are metadata services whatever they resolve to.
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data"})
# A label in a number's spelling. A host whose last label is one is an IPv4 address to URL
# parsers and to inet_aton (WHATWG's rule), however it is written.
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")


class HostRefused(ValueError):
    """The custom host is not one the gateway will call."""

    def api_error(self) -> ServerAPIError:
        """As the 400 a caller gets, whether the form was refused or the address dialled."""
        return ServerAPIError(400, f"{self}.", param="x-portkey-custom-host", code="custom_host_refused")


def _trusted(host: str, trusted: Iterable[str]) -> bool:
    """Whether the host is on the trusted list: matched literally, ignoring case and IPv6 brackets."""
    return host.lower().strip("[]") in {t.lower().strip("[]") for t in trusted}


def _refuse_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, shown: str) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        raise HostRefused(
            f"custom host {shown} is a {_kind(ip)} address; the gateway only calls public addresses "
            "and the hosts given to --trusted-hosts"
        )


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_private:
        return "private"
    return "non-public"


def check_url(url: str, trusted: Iterable[str] = DEFAULT_TRUSTED) -> tuple[str, str | None]:
    """Check a custom host's form; return (host, the IP it names or None for a name to resolve).

    Raises:
        HostRefused: a scheme, user info, spelling or address the gateway will not call.
    """
    if not url.isascii():
        raise HostRefused(
            f"custom host {url!r}: write the URL in ASCII (a host name in its xn-- form, the path percent-encoded)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HostRefused(f"custom host {url!r}: only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise HostRefused(f"custom host {url!r}: user info (user@host) is not allowed")
    host = (parts.hostname or "").rstrip(".") if parts.hostname else ""
    if not host:
        raise HostRefused(f"custom host {url!r} has no host")
    try:
        host.encode("idna")
    except UnicodeError:
        raise HostRefused(f"custom host {url!r}: {host!r} is not a valid host name") from None
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise HostRefused(f"custom host {url!r} has an invalid port") from None
    if parts.hostname and _trusted(parts.hostname, trusted):
        return host, None
    if host.lower() in _METADATA_NAMES:
        raise HostRefused(f"custom host {host} is a cloud metadata service")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None and _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
        raise HostRefused(f"custom host {host}: write an IP address in dotted-decimal form")
    if ip is not None:
        if isinstance(ip, ipaddress.IPv4Address) and not _CANONICAL_V4.fullmatch(host):
            raise HostRefused(f"custom host {host}: write an IP address in dotted-decimal form")
        _refuse_address(ip, host)
        return host, str(ip)
    return host, None


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def address(host: str, port: int, trusted: Iterable[str], resolve: Resolve = getaddrinfo) -> str:
    """The address to dial for a custom host, checked: resolved once here, and connected to as returned.

    A trusted name is returned as it is. Any other name must resolve only to public addresses;
    the caller dials the address returned, so a second lookup cannot swap in another (DNS rebinding).

    Raises:
        HostRefused: the name does not resolve, or resolves to an address the gateway will not call.
    """
    if _trusted(host, trusted):
        return host
    name = host.lower().strip("[]")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        _refuse_address(ip, host)
        return name
    try:
        found = await resolve(host, port)
    except OSError as exc:
        raise HostRefused(f"custom host {host} does not resolve: {exc}") from None
    if not found:
        raise HostRefused(f"custom host {host} does not resolve")
    for each in found:
        _refuse_address(ipaddress.ip_address(each.split("%")[0]), f"{host} ({each})")
    return found[0]
