"""The SSRF guard: hostile URLs and addresses are refused with a reason, never connected to."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import pytest

from voidrunner.tasks.webhooks import (
    AllowList,
    UnresolvableWebhookHost,
    UnsafeWebhookUrl,
    UrlGuard,
    parse_webhook_url,
    system_resolver,
    unsafe_reason,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class StubResolver:
    """Answers from a table; a host with several answer lists gets the next one per call."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self._table = table
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        answers = self._table.get(host)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers.pop(0) if len(answers) > 1 else answers[0]


def _guard(table: dict[str, list[list[str]]] | None = None, **kwargs: object) -> UrlGuard:
    resolver = StubResolver(table or {"hooks.example.com": [[PUBLIC_V4]]})
    return UrlGuard(resolver=resolver, **kwargs)  # type: ignore[arg-type]


# (url, a word the refusal's reason must contain)
HOSTILE_URLS = [
    ("https://user:pass@hooks.example.com/", "credentials"),
    ("https://user@hooks.example.com/", "credentials"),
    ("https://hooks.example.com@127.0.0.1/", "credentials"),
    ("http://hooks.example.com/", "only https"),
    ("file:///etc/passwd", "scheme file"),
    ("gopher://hooks.example.com:70/_GET", "scheme gopher"),
    ("ftp://hooks.example.com/", "scheme ftp"),
    ("javascript:alert(1)", "scheme javascript"),
    ("dict://127.0.0.1:11211/", "scheme dict"),
    ("hooks.example.com/path", "scheme"),
    ("https:/hooks.example.com", "absolute"),
    ("https://hooks.example.com:0/", "port 0"),
    ("https://hooks.example.com:65536/", "port 65536"),
    ("https://hooks.example.com:99999999/", "port"),
    ("https://hooks.example.com:-1/", "port"),
    ("https://hooks.example.com:22/", "port 22"),
    ("https://hooks.example.com:6x/", "port"),
    ("https://hooks.example.com/#frag", "fragment"),
    ("https://hooks.example.com/ x", "spaces"),
    ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
    ("https://hooks.example.com\t/", "control"),
    ("https://hooks.example.com/" + "a" * 2048, "longer than"),
    ("https://", "no host"),
    ("", "empty"),
    ("https://a:1:2/", "more than one"),
    ("https://" + "a" * 60 + ("." + "b" * 60) * 4 + ".com/", "too long"),
    ("https://127.0.0.1/", "loopback"),
    ("https://127.0.0.2:8443/", "loopback"),
    ("https://0x7f.1/", "number"),
    ("https://0x7f000001/", "number"),
    ("https://2130706433/", "number"),
    ("https://017700000001/", "number"),
    ("https://0177.0.0.1/", "number"),
    ("https://127.1/", "number"),
    ("https://0/", "number"),
    ("https://[::1]/", "loopback"),
    ("https://[::]/", "unicast"),
    ("https://0.0.0.0/", "unicast"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("https://[::ffff:169.254.169.254]/", "IPv4-mapped"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64"),
    ("https://[64:ff9b::7f00:1]/", "NAT64"),
    ("https://[64:ff9b:1::a9fe:a9fe]/", "NAT64"),
    ("https://[2002:7f00:1::]/", "6to4"),
    ("https://[2002:a9fe:a9fe::1]/", "6to4"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https://[fec0::1]/", "site-local"),
    ("https://[fd00:ec2::254]/", "unique-local"),
    ("https://[ff02::1]/", "unicast"),
    ("https://[2001:db8::1]/", "documentation"),
    ("https://[::1/", "not closed"),
    ("https://[::1]x/", "after the IPv6"),
    ("https://[not-v6]/", "IPv6"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://100.64.0.1/", "shared"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://192.0.2.10/", "documentation"),
    ("https://203.0.113.7/", "documentation"),
    ("https://192.0.0.170/", "special-purpose"),
    ("https://224.0.0.1/", "unicast"),
    ("https://255.255.255.255/", "unicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://metadata.google.internal/computeMetadata/v1/", ".internal"),
    ("https://localhost/", "fully qualified"),
    ("https://metadata/", "fully qualified"),
    ("https://app.localhost/", ".localhost"),
    ("https://printer.local/", ".local"),
    ("https://db.corp/", ".corp"),
    ("https://1.0.0.127.in-addr.arpa/", ".arpa"),
    ("https://hooks.example.com./", "dot"),
    ("https://hooks..example.com/", "valid domain"),
    ("https://-hooks.example.com/", "valid domain"),
    ("https://hooks_1.example.com/", "valid domain"),
    ("https://hooks%2eexample.com/", "characters"),
    ("https://127%2e0%2e0%2e1/", "characters"),
    ("https://xn--zz.example.com/", "valid domain"),
    # IDN tricks: what the user reads is not what would be resolved.
    ("https://127\u30020\u30020\u30021/", "normalisation"),  # ideographic full stops
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "normalisation"),
    ("https://\uff48\uff4f\uff4f\uff4b\uff53.example.com/", "normalisation"),
    ("https://hooks.exampl\u0435.com/", "mixes scripts"),  # a Cyrillic ie
    ("https://\u0430pple.com/", "mixes scripts"),  # a Cyrillic a
    (
        "https://\u0430\u0440\u0440\u04cf\u0435.com/",
        "looks like a Latin",
    ),  # "apple" in Cyrillic letters
    ("https://xn--80ak6aa92e.com/", "looks like a Latin"),  # the same, as punycode
    ("https://g\u03bf\u03bfgle.com/", "mixes scripts"),  # Greek omicrons
    ("https://hooks.example.com/é", "ASCII"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE_URLS)
async def test_hostile_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    resolver = StubResolver({"hooks.example.com": [[PUBLIC_V4]]})
    guard = UrlGuard(resolver=resolver)
    with pytest.raises(UnsafeWebhookUrl) as caught:
        await guard.vet(url)
    assert reason.lower() in caught.value.reason.lower()
    assert caught.value.message == f"Unsafe webhook URL: {caught.value.reason}"
    assert resolver.calls == []


@pytest.mark.parametrize(
    ("url", "host", "port", "target"),
    [
        ("https://hooks.example.com/", "hooks.example.com", 443, "/"),
        ("HTTPS://Hooks.Example.COM", "hooks.example.com", 443, "/"),
        ("https://hooks.example.com:8443/a/b?c=d&e", "hooks.example.com", 8443, "/a/b?c=d&e"),
        ("https://hooks.example.com?x=1", "hooks.example.com", 443, "/?x=1"),
        ("https://hooks.example.com:443/p%20q", "hooks.example.com", 443, "/p%20q"),
        ("https://bücher.example.com/", "xn--bcher-kva.example.com", 443, "/"),
        ("https://XN--BCHER-KVA.example.com/", "xn--bcher-kva.example.com", 443, "/"),
        ("https://пример.рф/", "xn--e1afmkfd.xn--p1ai", 443, "/"),
        # Latin look-alike letters, but under a Cyrillic TLD, where readers expect Cyrillic.
        ("https://\u0441\u0435\u0430.\u0440\u0444/", "xn--80aj9a.xn--p1ai", 443, "/"),
        ("https://例子.中国/", "xn--fsqu00a.xn--fiqs8s", 443, "/"),
        ("https://93.184.215.14:1024/", PUBLIC_V4, 1024, "/"),
        (f"https://[{PUBLIC_V6}]/", PUBLIC_V6, 443, "/"),
    ],
)
def test_acceptable_urls_parse_to_their_canonical_parts(
    url: str, host: str, port: int, target: str
) -> None:
    parsed = parse_webhook_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.target) == ("https", host, port, target)


def test_the_host_header_and_text_form() -> None:
    assert parse_webhook_url("https://a.example.com/x").host_header == "a.example.com"
    assert parse_webhook_url("https://a.example.com:8443/x").host_header == "a.example.com:8443"
    v6 = parse_webhook_url(f"https://[{PUBLIC_V6}]:8443/x")
    assert v6.host_header == f"[{PUBLIC_V6}]:8443"
    assert str(v6) == f"https://[{PUBLIC_V6}]:8443/x"
    assert parse_webhook_url("http://a.example.com:80/", allow_http=True).host_header == (
        "a.example.com"
    )


async def test_http_only_when_the_operator_allows_it() -> None:
    guard = _guard(allow_http=True)
    target = await guard.vet("http://hooks.example.com/hook")
    assert target.url.scheme == "http"
    assert target.url.port == 80


async def test_a_public_name_is_vetted_with_every_address() -> None:
    guard = _guard({"hooks.example.com": [[PUBLIC_V4, PUBLIC_V6]]})
    target = await guard.vet("https://hooks.example.com/")
    assert target.addresses == (ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address(PUBLIC_V6))


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        [PUBLIC_V4, "10.1.2.3"],  # one bad answer among good ones is enough
        [PUBLIC_V6, "::1"],
        ["::ffff:127.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],
        ["fe80::1%2"],
        ["0.0.0.0"],  # noqa: S104 - a resolver's answer, not an address to bind
    ],
)
async def test_a_name_resolving_to_a_refused_address_is_refused(answers: list[str]) -> None:
    guard = _guard({"evil.example.com": [answers]})
    with pytest.raises(UnsafeWebhookUrl, match=r"evil\.example\.com resolves to a refused"):
        await guard.vet("https://evil.example.com/")


async def test_metadata_look_alike_names_are_refused_by_what_they_resolve_to() -> None:
    guard = _guard({"metadata.google.internal.example.com": [["169.254.169.254"]]})
    with pytest.raises(UnsafeWebhookUrl, match="link-local"):
        await guard.vet("https://metadata.google.internal.example.com/computeMetadata/v1/")


async def test_dns_answers_are_vetted_again_at_every_check() -> None:
    resolver = StubResolver({"rebind.example.com": [[PUBLIC_V4], ["127.0.0.1"]]})
    guard = UrlGuard(resolver=resolver)
    first = await guard.vet("https://rebind.example.com/")
    assert first.addresses == (ipaddress.ip_address(PUBLIC_V4),)
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        await guard.vet("https://rebind.example.com/")
    assert len(resolver.calls) == 2


async def test_resolution_failures_are_not_refusals() -> None:
    guard = _guard({"empty.example.com": [[]]})
    with pytest.raises(UnresolvableWebhookHost, match=r"nxdomain\.example\.com"):
        await guard.vet("https://nxdomain.example.com/")
    with pytest.raises(UnresolvableWebhookHost):
        await guard.vet("https://empty.example.com/")


async def test_a_resolver_that_hangs_is_bounded() -> None:
    async def hang(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(60)
        return []

    guard = UrlGuard(resolver=hang, resolve_timeout=0.05)
    with pytest.raises(UnresolvableWebhookHost):
        await guard.vet("https://slow.example.com/")


async def test_garbage_or_too_many_answers_are_refused() -> None:
    guard = _guard({"junk.example.com": [["not-an-ip"]], "wide.example.com": [[PUBLIC_V4] * 33]})
    with pytest.raises(UnsafeWebhookUrl, match="not an IP"):
        await guard.vet("https://junk.example.com/")
    with pytest.raises(UnsafeWebhookUrl, match="more than 32"):
        await guard.vet("https://wide.example.com/")


async def test_the_allow_list_alone_opens_non_public_addresses() -> None:
    table = {"db.example.com": [["10.1.2.3"]], "hooks.corp": [["10.9.9.9"]]}
    closed = _guard(table)
    opened = _guard(
        table,
        allow_list=AllowList.parse(["10.1.0.0/16", "hooks.corp:8443", "127.0.0.1:9000"]),
    )
    for url in ("https://db.example.com/", "https://hooks.corp:8443/", "https://127.0.0.1:9000/"):
        with pytest.raises(UnsafeWebhookUrl):
            await closed.vet(url)
        await opened.vet(url)
    # Only what is listed: another port, another network, another name stay refused.
    for url in ("https://hooks.corp:9443/", "https://127.0.0.1:9001/", "https://10.2.0.1/"):
        with pytest.raises(UnsafeWebhookUrl):
            await opened.vet(url)


async def test_allow_listed_only_refuses_public_addresses_too() -> None:
    guard = _guard(allow_list=AllowList.parse(["127.0.0.1/32"]), allow_listed_only=True)
    for url in ("https://hooks.example.com/", f"https://{PUBLIC_V4}/", "https://[2606:4700::1]/"):
        with pytest.raises(UnsafeWebhookUrl, match="allow-list"):
            await guard.vet(url)
    await guard.vet("https://127.0.0.1:8443/")
    # The other rules still hold for what is listed.
    with pytest.raises(UnsafeWebhookUrl, match="unicast"):
        await _guard(allow_list=AllowList.parse(["0.0.0.0/0"]), allow_listed_only=True).vet(
            "https://0.0.0.0/"
        )


async def test_not_even_the_allow_list_opens_non_unicast_addresses() -> None:
    guard = _guard(allow_list=AllowList.parse(["0.0.0.0/0", "::/0"]))
    for url in ("https://0.0.0.0/", "https://[::]/", "https://224.0.0.1/", "https://[ff02::1]/"):
        with pytest.raises(UnsafeWebhookUrl, match="unicast"):
            await guard.vet(url)
    await guard.vet("https://127.0.0.1/")


def test_allow_list_entries_are_checked() -> None:
    listed = AllowList.parse(["127.0.0.1", " ::1/128 ", "[::1]:9000", "Hooks.Corp:443", ""])
    assert len(listed.networks) == 2
    assert listed.endpoints == {("::1", 9000), ("hooks.corp", 443)}
    assert listed
    assert not AllowList()
    for bad in ("10.0.0.1/8", "hooks.corp", "hooks.corp:0", "bad_name.corp:443", "[zz]:1"):
        with pytest.raises(ValueError, match="allow-list"):
            AllowList.parse([bad])


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert unsafe_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "0.1.2.3",
        "192.88.99.1",
        "192.0.0.9",
        "100.127.255.254",
        "198.19.255.255",
        "198.51.100.1",
        "3fff::1",
        "2001:10::1",
        "100::1",
        "ff0e::1",
        "::7f00:1",
        "fc00::1",
        "255.255.255.255",
        "239.1.2.3",
        "::",
        "fe80::1%eth0",
    ],
)
def test_special_addresses_are_refused(address: str) -> None:
    assert unsafe_reason(ipaddress.ip_address(address)) is not None


async def test_the_system_resolver_answers_from_the_hosts_file() -> None:
    answers = await system_resolver("localhost", 443)
    assert set(answers) & {"127.0.0.1", "::1"}
    assert len(answers) == len(set(answers))
    assert await system_resolver("127.0.0.1", 443) == ["127.0.0.1"]
