"""The SSRF guard: a URL is vetted, with its host resolved, before every single attempt.

Every address the host resolves to must be public (or allowed by the operator), not just the
first: the sender connects only to vetted addresses and never resolves again, so a name whose
answers change between the check and the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from voidrunner.tasks.webhooks.addresses import IPAddress, unsafe_reason
from voidrunner.tasks.webhooks.allow_list import AllowList
from voidrunner.tasks.webhooks.errors import UnresolvableWebhookHost, UnsafeWebhookUrl
from voidrunner.tasks.webhooks.urls import WebhookUrl, parse_webhook_url

# Top-level names that never lead to the public internet: special-use (RFC 6761, 6762, 9476),
# ICANN's private-use `.internal` (cloud metadata hosts), and names so widely used inside
# networks that they were never delegated.
SPECIAL_USE_TLDS = frozenset(
    {"localhost", "local", "internal", "arpa", "onion", "invalid", "test", "alt"}
    | {"home", "lan", "corp", "intranet", "private", "localdomain"}
)
_MAX_ADDRESSES = 32
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class Resolver(Protocol):
    """Resolves a host name to IP address texts (the guard's seam for tests)."""

    async def __call__(self, host: str, port: int) -> Sequence[str]: ...


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The event loop's getaddrinfo, TCP only, answers deduplicated in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def no_names(host: str, port: int) -> Sequence[str]:
    """A resolver that resolves nothing (a name is then "does not resolve")."""
    raise OSError(f"name resolution is off: {host}")


@dataclass(frozen=True, slots=True)
class VettedTarget:
    """A URL and every address its host resolved to, each one allowed."""

    url: WebhookUrl
    addresses: tuple[IPAddress, ...]


class UrlGuard:
    """Vets webhook URLs: syntax, names, and every resolved address."""

    def __init__(
        self,
        *,
        allow_list: AllowList | None = None,
        allow_http: bool = False,
        resolver: Resolver = system_resolver,
        resolve_timeout: float = 5.0,
        allow_listed_only: bool = False,
    ) -> None:
        """`allow_listed_only`: public addresses are refused too (a closed network, or a test
        stack, where nothing may leave for an address nobody listed)."""
        self._allow_listed_only = allow_listed_only
        self._allow_list = allow_list or AllowList()
        self._allow_http = allow_http
        self._resolver = resolver
        self._resolve_timeout = resolve_timeout

    def check(self, url: str) -> WebhookUrl:
        """The rules that need no DNS (for a quick 4xx when a URL is registered)."""
        parsed = parse_webhook_url(url, allow_http=self._allow_http)
        if parsed.address is None and not self._allow_list.permits_name(parsed):
            labels = parsed.host.split(".")
            if len(labels) < 2:
                raise UnsafeWebhookUrl("the host must be a fully qualified domain name")
            if labels[-1] in SPECIAL_USE_TLDS:
                raise UnsafeWebhookUrl(f"names under .{labels[-1]} are not reachable")
        elif parsed.address is not None:
            self._vet_address(parsed, parsed.address)
        return parsed

    async def vet(self, url: str) -> VettedTarget:
        """Check `url` and resolve its host; every address must be public or allow-listed.

        Raises UnsafeWebhookUrl (a refusal) or UnresolvableWebhookHost (may work later).
        """
        parsed = self.check(url)
        if parsed.address is not None:
            return VettedTarget(parsed, (parsed.address,))
        addresses = await self._resolve(parsed)
        for address in addresses:
            self._vet_address(parsed, address)
        return VettedTarget(parsed, addresses)

    async def _resolve(self, url: WebhookUrl) -> tuple[IPAddress, ...]:
        try:
            async with asyncio.timeout(self._resolve_timeout):
                answers = await self._resolver(url.host, url.port)
        except (OSError, TimeoutError, UnicodeError):
            raise UnresolvableWebhookHost(url.host) from None
        if not answers:
            raise UnresolvableWebhookHost(url.host)
        if len(answers) > _MAX_ADDRESSES:
            raise UnsafeWebhookUrl(f"{url.host} resolves to more than {_MAX_ADDRESSES} addresses")
        try:
            return tuple(ipaddress.ip_address(answer) for answer in answers)
        except ValueError:
            raise UnsafeWebhookUrl(f"{url.host} resolves to something not an IP") from None

    def _vet_address(self, url: WebhookUrl, address: IPAddress) -> None:
        if address.is_unspecified or address.is_multicast or address == _BROADCAST:
            # Not even the operator can list these: there is no single host behind them.
            raise UnsafeWebhookUrl(_refusal(url, f"{address} is not a unicast address"))
        if self._allow_list.permits(url, address):
            return
        if self._allow_listed_only:
            raise UnsafeWebhookUrl(_refusal(url, f"{address} is not on the operator's allow-list"))
        reason = unsafe_reason(address)
        if reason is not None:
            raise UnsafeWebhookUrl(_refusal(url, reason))


def _refusal(url: WebhookUrl, reason: str) -> str:
    return (
        reason if url.address is not None else f"{url.host} resolves to a refused address: {reason}"
    )
