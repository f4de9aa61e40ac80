"""The operator's allow-list: the only way a webhook reaches a non-public address.

Entries are CIDRs (`10.20.0.0/16`, `127.0.0.1`, `fd00::/8`: those addresses on any port) or
endpoints (`hooks.corp.example:8443`, `127.0.0.1:9000`, `[::1]:9000`: that host on that port;
a named endpoint may resolve to any address, and skips the rules about special names).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from voidrunner.tasks.webhooks.addresses import IPAddress
from voidrunner.tasks.webhooks.errors import UnsafeWebhookUrl
from voidrunner.tasks.webhooks.urls import WebhookUrl, normalise_hostname

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AllowList:
    """Networks and host:port endpoints the operator lets webhooks reach."""

    networks: tuple[IPNetwork, ...] = ()
    endpoints: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Read operator entries; raises ValueError naming the first one that is neither form."""
        networks: list[IPNetwork] = []
        endpoints: set[tuple[str, int]] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=True))
            except ValueError:
                endpoints.add(_endpoint(entry))
        return cls(tuple(networks), frozenset(endpoints))

    def permits_name(self, url: WebhookUrl) -> bool:
        """Whether the URL's own host and port are listed as an endpoint."""
        return (url.host, url.port) in self.endpoints

    def permits(self, url: WebhookUrl, address: IPAddress) -> bool:
        """Whether `address`, which `url`'s host resolved to, is reachable by the operator's say."""
        if self.permits_name(url) or (str(address), url.port) in self.endpoints:
            return True
        return any(address.version == net.version and address in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks or self.endpoints)


def _endpoint(entry: str) -> tuple[str, int]:
    host, sep, port_text = entry.rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"allow-list entry {entry!r} is neither a CIDR nor host:port")
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1])), int(port_text)
        except ValueError:
            raise ValueError(f"allow-list entry {entry!r}: not an IPv6 address") from None
    try:
        return str(ipaddress.IPv4Address(host)), int(port_text)
    except ValueError:
        pass
    try:
        return normalise_hostname(host), int(port_text)
    except UnsafeWebhookUrl as exc:
        raise ValueError(f"allow-list entry {entry!r}: {exc.reason}") from None
