"""Which webhook URLs we send to. Only http and https; by default not to an address of our own
network (loopback, private, link-local — cloud metadata services live there —, reserved), so that
an API key cannot make us call internal services. `WEBHOOKS_ALLOW_PRIVATE_URLS=true` lifts that
for self-hosted set-ups whose receivers are on the same network, and for the tests."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def unsafe_url_reason(url: str) -> str | None:
    """None when we may send to `url`, else the error code: `invalid_url` (not http(s), no host)
    or `url_not_allowed` (it resolves to a private address, or not at all)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "invalid_url"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "invalid_url"
    if settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return "url_not_allowed"
    if not infos or any(_is_private(info[4][0]) for info in infos):
        return "url_not_allowed"
    return None
