"""Which IP addresses a webhook may reach: public unicast ones only.

`ipaddress.is_global` alone is not enough on Python 3.11: it calls multicast, site-local
(fec0::/10), IPv4-compatible IPv6 and NAT64 addresses global. So the explicit checks below run
first, and addresses that embed an IPv4 address (6to4, NAT64) are judged by the address they
embed, since that is where a relay would deliver the packets.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_BENCHMARKING = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")  # RFC 6890 (is_global misses parts)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # RFC 1122, "this host on this network"
_SIX_TO_FOUR_RELAY = ipaddress.ip_network("192.88.99.0/24")  # RFC 7526, deprecated anycast
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_DOCUMENTATION_V4 = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
)
_DOCUMENTATION_V6 = (
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("3fff::/20"),  # RFC 9637
)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, embeds the IPv4 target
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, local use only
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056, bits 16..48 are an IPv4 address
_TEREDO = ipaddress.ip_network("2001::/32")  # RFC 4380, tunnels to an obfuscated IPv4 address
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, ::a.b.c.d
_ORCHID = ipaddress.ip_network("2001:10::/28")
_DISCARD = ipaddress.ip_network("100::/64")


def unsafe_reason(address: IPAddress) -> str | None:
    """Why a webhook may not connect to `address`, or None when it is public unicast."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_reason(address)
    return _ipv6_reason(address)


def _ipv4_reason(address: ipaddress.IPv4Address) -> str | None:  # noqa: PLR0911 - one rule a line
    if address.is_unspecified or address in _THIS_NETWORK:
        return f"{address} is an unspecified (this-network) address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata lives here)"
    if address == _BROADCAST:
        return f"{address} is the broadcast address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address in _SHARED:
        return f"{address} is a shared (carrier-grade NAT) address"
    if address in _BENCHMARKING:
        return f"{address} is a benchmarking address"
    if any(address in net for net in _DOCUMENTATION_V4):
        return f"{address} is a documentation address"
    if address in _IETF_PROTOCOL or address in _SIX_TO_FOUR_RELAY:
        return f"{address} is a special-purpose address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    if address.is_private:
        return f"{address} is a private address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _ipv6_reason(address: ipaddress.IPv6Address) -> str | None:  # noqa: PLR0911, PLR0912
    if address.scope_id:
        return f"{address} carries a zone index"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.ipv4_mapped is not None:
        return f"{address} is an IPv4-mapped IPv6 address"
    if address in _IPV4_COMPATIBLE:
        return f"{address} is an IPv4-compatible IPv6 address"
    if address in _NAT64_LOCAL:
        return f"{address} is a local-use NAT64 address"
    if address in _NAT64_WELL_KNOWN:
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        inner = _ipv4_reason(embedded)
        return None if inner is None else f"{address} is NAT64 to {embedded}, which is refused"
    if address.sixtofour is not None:
        inner = _ipv4_reason(address.sixtofour)
        if inner is None:
            return None
        return f"{address} is 6to4 to {address.sixtofour}, which is refused"
    if address in _TEREDO:
        return f"{address} is a Teredo tunnel address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_site_local:
        return f"{address} is a site-local address"
    if any(address in net for net in _DOCUMENTATION_V6):
        return f"{address} is a documentation address"
    if address in _ORCHID or address in _DISCARD:
        return f"{address} is a special-purpose address"
    if address.is_private:
        return f"{address} is a private or unique-local address"
    if address.is_reserved:
        return f"{address} is a reserved address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None
