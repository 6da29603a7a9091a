"""The SSRF guard: a webhook may only reach the public internet.

Checked when a subscription is made (400) and again before every delivery (a name can come
to resolve elsewhere). Refused: schemes other than https (http too with the setting), and
hosts resolving to a loopback, private, link-local, multicast, reserved or unspecified
address, or to a cloud metadata address. An IPv6 address that carries an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64) is judged by the IPv4 address it leads to.
`FORMCASE_WEBHOOK_ALLOW_PRIVATE=true` allows http and private addresses (for a receiver on
the same machine or network); metadata addresses stay refused whatever the setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from formcase.kit.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack…
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


# NAT64 prefixes whose last 32 bits are the IPv4 address (RFC 6052, RFC 8215)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class UnsafeURL(BadRequest):
    """A webhook URL formcase will not call; the message says why."""


class Unresolved(UnsafeURL):
    """The host name could not be resolved: maybe a passing DNS failure, so a delivery is
    retried (other refusals cannot get better and fail it at once)."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address leads to, and how it embeds them ("", [] if none):
    a packet to a 6to4, Teredo or NAT64 address is relayed to its IPv4 address."""
    if address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address.teredo is not None:  # (server, client); the client's bits come un-XORed
        return "Teredo", list(address.teredo)
    if any(address in prefix for prefix in NAT64):
        return "NAT64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return "", []


def check_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The URL's host and port, once its form is acceptable (no name resolution here)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL(f"Webhook URL '{url}' is not a valid URL.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        need = "http:// or https://" if allow_private else "https://"
        raise UnsafeURL(f"Webhook URL '{url}' must start with {need}.")
    if not parts.hostname:
        raise UnsafeURL(f"Webhook URL '{url}' has no host.")
    if len(url) > 2000:
        raise UnsafeURL("A webhook URL is at most 2,000 characters long.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why an address may not be called, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:
            form, inside = embedded_ipv4(address)
            for ipv4 in inside:
                if why := refusal(ipv4, allow_private=allow_private):
                    return f"a {form} address of {ipv4}, {why}"
            if inside:  # every IPv4 address it leads to is public
                return None
    if address in METADATA:
        return "a cloud metadata address"
    if allow_private:
        return None
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if not address.is_global:
        return "an address that is not public"
    return None


def check_literal(url: str, *, allow_private: bool) -> None:
    """The checks that need no name resolution: the URL's form, and its host when that is an
    address or `localhost` (for hot paths; the delivery checks the resolved addresses)."""
    host, _ = check_url(url, allow_private=allow_private)
    try:
        address: IPAddress = ipaddress.ip_address(host)
    except ValueError:
        if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") and not allow_private:
            raise UnsafeURL(f"Webhook URL host '{host}' is this machine: refused.") from None
        return
    why = refusal(address, allow_private=allow_private)
    if why:
        raise UnsafeURL(f"Webhook URL host '{host}' is {why}: refused.")


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeURL unless every address the URL's host resolves to may be called."""
    host, port = check_url(url, allow_private=allow_private)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [literal] if literal else await asyncio.to_thread(_resolve, host, port)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"Webhook URL host '{host}' cannot be resolved ({exc}).") from None
    for address in addresses:
        why = refusal(address, allow_private=allow_private)
        if why:
            hint = (
                ""
                if allow_private or why == "a cloud metadata address"
                else " (FORMCASE_WEBHOOK_ALLOW_PRIVATE=true allows private addresses)"
            )
            where = f"is {why}" if literal else f"resolves to {address}, {why}"
            raise UnsafeURL(f"Webhook URL host '{host}' {where}: refused{hint}.")
