"""Which webhook targets are allowed (#18): a webhook is a classic SSRF door.

Only http(s) URLs with a host. Never an address that is link-local (169.254.0.0/16, fe80::/10,
where the cloud metadata services live), a known cloud metadata address (100.100.100.200,
fd00:ec2::254, 168.63.129.16), unspecified, multicast or reserved. Loopback and private ranges
(10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 …) only when the admin setting
`webhooks_allow_private_targets` says so. An IPv4 address mapped into IPv6 is judged as IPv4.
These rules run at registration and again for every address a name resolves to at delivery time.
"""

import ipaddress
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "168.63.129.16", "169.254.169.254")
)


class TargetRefused(ValueError):
    """The URL or one of its addresses may not receive webhooks; the message says why."""


def parse_target(url: str) -> SplitResult:
    """The URL's parts, or TargetRefused when it is not an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError as error:
        raise TargetRefused(f"not a URL: {error}") from error
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs receive webhooks")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not allowed")
    return parts


def literal_address(host: str) -> Address | None:
    """The host as an IP address when it is one (IPv6 without brackets), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_address(address: Address, allow_private: bool) -> None:
    """Raise TargetRefused when webhooks may not go to `address`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        raise TargetRefused(f"{address} is a cloud metadata address")
    if address.is_link_local:
        raise TargetRefused(f"{address} is a link-local address")
    if address.is_unspecified or address.is_multicast:
        raise TargetRefused(f"{address} is not a unicast address")
    if address.is_reserved and not address.is_loopback:  # ::1 lies in IPv6's reserved ::/8
        raise TargetRefused(f"{address} is a reserved address")
    if not address.is_global and not allow_private:
        kind = "a loopback" if address.is_loopback else "a private"
        raise TargetRefused(f"{address} is {kind} address (allowed only with webhooks_allow_private_targets)")
