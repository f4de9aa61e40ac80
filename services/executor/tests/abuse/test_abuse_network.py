"""Abuse: the network. The sandbox has none: host services, DNS and raw sockets are out of reach.

Every target is a real listener on the host's loopback that the host itself reached first (the
positive control, so "refused" means something). The only non-loopback address used is an
unroutable one, tried from inside the sandbox's empty network namespace, where it must fail at once.
"""

from __future__ import annotations

import socket

import pytest

from sandbox_testing.abuse import Abuse, Listeners
from voidrunner.executor.sandbox.types import TerminationReason

pytestmark = [pytest.mark.sandbox, pytest.mark.hardening(group_by="backend")]


def allowed(verdicts: dict[str, str]) -> dict[str, str]:
    return {label: v for label, v in verdicts.items() if v.startswith("ALLOWED")}


CONNECT = """
def connect(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        return "connected"
    finally:
        s.close()
"""


async def test_host_loopback_listeners_are_unreachable(abuse: Abuse, listeners: Listeners) -> None:
    # 127.0.0.1 and ::1 on ephemeral ports, and the platform's own ports on 127.0.0.1: Postgres
    # 5432, NATS 4222, the gateway 8080, gRPC 50051 (real services where they run here).
    body = (
        CONNECT
        + f"""
for host, port in {listeners.targets!r}:
    attempt(f"tcp-{{host}}-{{port}}", lambda: connect(host, port))
"""
    )
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == len(listeners.targets), result
    assert allowed(verdicts) == {}
    assert listeners.accepted_nothing(), "a connection from the sandbox reached a host listener"


async def test_udp_to_the_host_never_arrives(abuse: Abuse) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(1.0)
    port = receiver.getsockname()[1]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            control.sendto(b"control", ("127.0.0.1", port))
        assert receiver.recv(64) == b"control"  # positive control
        body = f"""
def send():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(20):
            s.sendto(b"from-the-sandbox", ("127.0.0.1", {port}))
    finally:
        s.close()
attempt("udp-send", send)
"""
        result, verdicts = await abuse.attempts(body)
        assert set(verdicts) == {"udp-send"}, result
        # Sending into the sandbox's own loopback may "succeed"; nothing may arrive here.
        receiver.settimeout(0.3)
        with pytest.raises(TimeoutError):
            receiver.recv(64)
    finally:
        receiver.close()


async def test_other_addresses_fail_at_once(abuse: Abuse) -> None:
    body = (
        CONNECT
        + """
import time
for host in ["10.255.255.1", "::ffff:10.255.255.1"]:
    started = time.monotonic()
    attempt(f"tcp-{host}", lambda: connect(host, 80))
    print("took", host, round(time.monotonic() - started, 3))
try:
    print("interfaces", sorted(name for _, name in socket.if_nameindex()))
except OSError:
    print("interfaces", [])  # no socket to ask with (bwrap's seccomp): none reachable either
"""
    )
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == 2, result
    assert allowed(verdicts) == {}
    took = [float(line.split()[-1]) for line in result.stdout.splitlines() if b"took" in line]
    assert max(took) < 1.0, "no route must fail at once, not time out"
    interfaces = next(line for line in result.stdout.splitlines() if line.startswith(b"interf"))
    assert interfaces in (b"interfaces []", b"interfaces ['lo']"), interfaces


async def test_dns_resolution_fails(abuse: Abuse) -> None:
    names = ["example.com", "postgres", "nats", "gateway", "host.docker.internal", "metadata"]
    body = f"""
for name in {names!r}:
    attempt(f"resolve-{{name}}", lambda: socket.getaddrinfo(name, 80))
attempt("resolv-conf", lambda: [l for l in open("/etc/resolv.conf") if l.strip()])
"""
    result, verdicts = await abuse.attempts(body)
    assert len(verdicts) == len(names) + 1, result
    leaked = allowed(verdicts)
    # An empty (or absent) resolv.conf is what we want; a nameserver line would be a finding.
    if leaked.get("resolv-conf") == "ALLOWED []":
        del leaked["resolv-conf"]
    assert leaked == {}


async def test_raw_and_packet_sockets_are_refused(abuse: Abuse) -> None:
    body = """
kinds = {
    "raw-ipv4": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "raw-ipv6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
    "raw-tcp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
    "packet": (socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
    "packet-dgram": (socket.AF_PACKET, socket.SOCK_DGRAM, 0x0300),
}
for label, args in kinds.items():
    attempt(label, lambda: socket.socket(*args).close())
"""
    result, verdicts = await abuse.attempts(body)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert len(verdicts) == 5, result
    assert allowed(verdicts) == {}
