"""Webhook URLs: parsed by our own strict rules, not by whatever a client library tolerates.

Only `https://host[:port]/path?query` (and `http://` where the operator allows it for
development). Hosts are normalised with IDNA (UTS #46) the way a client would resolve them,
and refused when that normalisation changes what the user sees (full-width letters, ideographic
dots), when a label mixes Latin, Cyrillic or Greek letters, or when a name is written as a
number (`2130706433`, `0x7f.1`, `127.1`): resolvers read those as IPv4 addresses.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

import idna

from voidrunner.tasks.webhooks.addresses import IPAddress
from voidrunner.tasks.webhooks.errors import UnsafeWebhookUrl

MAX_URL_LENGTH = 2048
_MAX_HOST_LENGTH = 253
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Well-known web ports, or unprivileged ones; the rest (22, 25, 111, ...) are other protocols.
_LOWEST_CUSTOM_PORT = 1024

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
# Characters no URL we accept carries: spaces and controls (clients strip or split on them
# differently) and backslashes (some parsers read them as `/`).
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\\s]")
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"})
# Cyrillic letters that look like Latin ones: a label of these alone reads as a Latin word.
_LATIN_LOOKALIKE_CYRILLIC = frozenset("аввгдеёзікмнорсѕтухъьһјӏԁԛԝӓӧ")


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """A URL that passed the syntax rules; `host` is ASCII (an A-label name or an IP)."""

    scheme: str
    host: str
    port: int
    target: str
    address: IPAddress | None

    @property
    def host_header(self) -> str:
        """The Host header: the name (or bracketed IPv6), with the port when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"


def parse_webhook_url(url: str, *, allow_http: bool = False) -> WebhookUrl:
    """Parse and check `url`; raises UnsafeWebhookUrl with a reason a user can act on."""
    if not url:
        raise UnsafeWebhookUrl("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN.search(url):
        raise UnsafeWebhookUrl("the URL contains spaces, control characters or backslashes")
    if "#" in url:
        raise UnsafeWebhookUrl("fragments (#...) are not allowed")
    scheme, sep, rest = url.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise UnsafeWebhookUrl("the URL has no scheme")
    scheme = scheme.lower()
    allowed = ("https", "http") if allow_http else ("https",)
    if scheme not in allowed:
        raise UnsafeWebhookUrl(
            "only https URLs are allowed" if scheme == "http" else f"scheme {scheme}: not allowed"
        )
    if not rest.startswith("//"):
        raise UnsafeWebhookUrl("the URL must be absolute (scheme://host/...)")
    authority, target = _split_authority(rest[2:])
    if not target.isascii():
        raise UnsafeWebhookUrl("the path and query must be ASCII (percent-encode the rest)")
    if "@" in authority:
        raise UnsafeWebhookUrl("credentials in the URL are not allowed")
    raw_host, port = _split_port(authority, _DEFAULT_PORTS[scheme])
    address = _ip_literal(raw_host)
    host = str(address) if address is not None else normalise_hostname(raw_host)
    return WebhookUrl(scheme, host, port, target or "/", address)


def normalise_hostname(raw: str) -> str:
    """The ASCII (A-label) form of a DNS name, lower case; refuses look-alikes and numbers."""
    if not raw:
        raise UnsafeWebhookUrl("the URL has no host")
    if "%" in raw or "[" in raw or "]" in raw:
        raise UnsafeWebhookUrl("the host contains characters a host name may not have")
    if raw.endswith("."):
        raise UnsafeWebhookUrl("the host may not end with a dot")
    if len(raw) > _MAX_HOST_LENGTH:
        raise UnsafeWebhookUrl("the host name is too long")
    try:
        ascii_host = idna.encode(raw, uts46=True, std3_rules=True).decode("ascii")
        unicode_host = idna.decode(ascii_host)
    except (idna.IDNAError, UnicodeError):
        raise UnsafeWebhookUrl("the host is not a valid domain name") from None
    # An ASCII name must come out as itself (bar case); a Unicode one must be its own U-label
    # form, or the name the user sees is not the name that gets resolved.
    shown = raw.lower() if raw.isascii() else unicodedata.normalize("NFC", raw).lower()
    if shown != (ascii_host if raw.isascii() else unicode_host):
        raise UnsafeWebhookUrl(
            "the host changes under IDNA normalisation (full-width or look-alike characters)"
        )
    if len(ascii_host) > _MAX_HOST_LENGTH:
        raise UnsafeWebhookUrl("the host name is too long")
    labels = ascii_host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeWebhookUrl("the host is not a valid domain name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise UnsafeWebhookUrl("the host is a number but not a dotted-quad IPv4 address")
    unicode_labels = unicode_host.split(".")
    for label in unicode_labels:
        _refuse_homograph(label, latin_tld=unicode_labels[-1].isascii())
    return ascii_host


def _split_authority(rest: str) -> tuple[str, str]:
    end = len(rest)
    for mark in "/?":
        index = rest.find(mark)
        if index != -1:
            end = min(end, index)
    target = rest[end:]
    if target.startswith("?"):
        target = "/" + target
    return rest[:end], target


def _split_port(authority: str, default: int) -> tuple[str, int]:
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise UnsafeWebhookUrl("the IPv6 address is not closed with ]")
        host, tail = authority[: close + 1], authority[close + 1 :]
        if tail and not tail.startswith(":"):
            raise UnsafeWebhookUrl("unexpected characters after the IPv6 address")
        port_text = tail[1:] if tail else None
    else:
        host, sep, port_text_ = authority.partition(":")
        port_text = port_text_ if sep else None
        if ":" in port_text_:
            raise UnsafeWebhookUrl("the host has more than one ':'")
    if port_text is None:
        return host, default
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise UnsafeWebhookUrl("the port is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UnsafeWebhookUrl(f"port {port} is out of range")
    if port not in _DEFAULT_PORTS.values() and port < _LOWEST_CUSTOM_PORT:
        raise UnsafeWebhookUrl(f"port {port} is not allowed (use 80, 443 or 1024-65535)")
    return host, port


def _ip_literal(host: str) -> IPAddress | None:
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise UnsafeWebhookUrl("IPv6 zone indexes are not allowed")
        try:
            return ipaddress.IPv6Address(inner)
        except ValueError:
            raise UnsafeWebhookUrl("the IPv6 address is not valid") from None
    try:
        # Strict dotted quads only: ipaddress refuses octal, hex and short forms, which
        # normalise_hostname then refuses as numbers.
        return ipaddress.IPv4Address(host)
    except ValueError:
        return None


def _refuse_homograph(label: str, *, latin_tld: bool) -> None:
    if label.isascii():
        return
    scripts = {_script(ch) for ch in label if ch.isalpha()}
    if len(scripts & _CONFUSABLE_SCRIPTS) > 1:
        raise UnsafeWebhookUrl(f"the host label {label!r} mixes scripts (a look-alike name)")
    letters = [ch for ch in label if ch.isalpha()]
    # Under a Cyrillic TLD (.рф) Cyrillic names are what readers expect; under .com they mimic.
    if (
        latin_tld
        and scripts == {"CYRILLIC"}
        and all(ch in _LATIN_LOOKALIKE_CYRILLIC for ch in letters)
    ):
        raise UnsafeWebhookUrl(f"the host label {label!r} looks like a Latin name")


def _script(ch: str) -> str:
    return unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
