"""The webhook sender against a real receiver on loopback, reached only through the allow-list.

The receiver is a few lines of asyncio HTTP/1.1 with one behaviour per path; names resolve
through a stub resolver, so no test ever leaves this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
import trustme
from standardwebhooks.webhooks import Webhook

from voidrunner.tasks.webhooks import (
    AllowList,
    SenderConfig,
    UrlGuard,
    WebhookSender,
    generate_secret,
    new_message_id,
)

NAME = "hooks.example.com"
BODY = b'{"type":"execution.completed","data":{"id":"42"}}'
HUGE_BYTES = 200 * 1024 * 1024
CHUNK = b"x" * 65536


@dataclass
class Received:
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP/1.1 server: /ok, /fail, /busy, /redirect, /gone, /hang, /huge, /drip."""

    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    huge_bytes_sent: int = 0
    sni: list[str | None] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            target = head[0].split(" ")[1]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(target, headers, body))
            await self._respond(target, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the sender hung up (caps, timeouts, refused certificates): what we test
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _respond(self, target: str, writer: asyncio.StreamWriter) -> None:
        simple = {
            "/ok": (200, ""),
            "/fail": (500, ""),
            "/busy": (503, "Retry-After: 120\r\n"),
            "/redirect": (302, f"Location: http://127.0.0.1:{self.port}/elsewhere\r\n"),
            "/gone": (410, ""),
        }
        if target in simple:
            status, extra = simple[target]
            payload = f"status {status}".encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n{extra}"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        elif target == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            await writer.drain()
        elif target == "/hang":
            await asyncio.sleep(3600)
        elif target == "/huge":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BYTES}\r\n\r\n".encode())
            while self.huge_bytes_sent < HUGE_BYTES:
                writer.write(CHUNK)
                await writer.drain()
                self.huge_bytes_sent += len(CHUNK)
        elif target == "/drip":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)


class StubResolver:
    """Answers from a table; a host with several answer lists gets the next one per call."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self._table = table

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        answers = self._table[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


def _sender(
    table: dict[str, list[list[str]]] | None = None,
    *,
    allow: Sequence[str] = ("127.0.0.1/32",),
    config: SenderConfig | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookSender:
    guard = UrlGuard(
        allow_list=AllowList.parse(allow),
        allow_http=True,
        resolver=StubResolver(table or {NAME: [["127.0.0.1"]]}),
    )
    return WebhookSender(guard, config=config, ssl_context=ssl_context)


async def test_a_signed_post_reaches_the_vetted_address(receiver: Receiver) -> None:
    old, new = generate_secret(), generate_secret()
    message_id = new_message_id()
    result = await _sender().send(
        f"http://{NAME}:{receiver.port}/ok", message_id=message_id, body=BODY, secrets=[new, old]
    )
    assert result.succeeded
    assert (result.status_code, result.error, result.retryable) == (200, None, False)
    assert not result.disable_endpoint
    assert result.address == "127.0.0.1"
    assert result.response_excerpt == b"status 200"
    assert 0 <= result.latency_ms < 5000
    [request] = receiver.requests
    assert request.target == "/ok"
    assert request.body == BODY
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == message_id
    for secret in (old, new):
        assert Webhook(secret).verify(request.body, request.headers) == {
            "type": "execution.completed",
            "data": {"id": "42"},
        }


async def test_an_ipv6_address_is_pinned_too() -> None:
    server = Receiver(host="::1")
    await server.start()
    try:
        sender = _sender({NAME: [["::1"]]}, allow=("::1/128",))
        result = await sender.send(
            f"http://{NAME}:{server.port}/ok",
            message_id="m",
            body=BODY,
            secrets=[generate_secret()],
        )
    finally:
        await server.stop()
    assert (result.status_code, result.address) == (200, "::1")
    assert server.requests[0].headers["host"] == f"{NAME}:{server.port}"


async def test_an_ip_literal_url_needs_no_resolution(receiver: Receiver) -> None:
    guard = UrlGuard(
        allow_list=AllowList.parse([f"127.0.0.1:{receiver.port}"]),
        allow_http=True,
        resolver=_nxdomain,
    )
    result = await WebhookSender(guard).send(
        f"http://127.0.0.1:{receiver.port}/ok",
        message_id="m",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code == 200
    assert receiver.requests[0].headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_proxy_variables_are_ignored(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    result = await _sender().send(
        f"http://{NAME}:{receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code == 200
    assert len(receiver.requests) == 1


async def test_a_loopback_name_without_the_allow_list_is_never_connected(
    receiver: Receiver,
) -> None:
    result = await _sender(allow=()).send(
        f"http://{NAME}:{receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code is None
    assert not result.retryable
    assert result.error is not None
    assert "loopback" in result.error
    assert receiver.connections == 0


async def test_dns_changing_between_attempts_is_caught_at_the_second(receiver: Receiver) -> None:
    sender = _sender({NAME: [["127.0.0.1"], ["127.0.0.2"]]})
    url = f"http://{NAME}:{receiver.port}/ok"
    first = await sender.send(url, message_id="msg_1", body=BODY, secrets=[generate_secret()])
    second = await sender.send(url, message_id="msg_1", body=BODY, secrets=[generate_secret()])
    assert first.status_code == 200
    assert second.status_code is None
    assert second.error is not None
    assert "127.0.0.2" in second.error
    assert "loopback" in second.error
    assert receiver.connections == 1


async def test_an_unresolvable_host_is_a_retryable_failure() -> None:
    sender = WebhookSender(UrlGuard(resolver=_nxdomain, allow_http=True))
    result = await sender.send(
        "http://gone.example.com/", message_id="msg_1", body=BODY, secrets=[generate_secret()]
    )
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error == "Webhook host does not resolve: gone.example.com"


async def _nxdomain(host: str, port: int) -> Sequence[str]:
    raise OSError("Name or service not known")


async def test_the_next_vetted_address_is_tried_when_one_refuses(receiver: Receiver) -> None:
    sender = _sender({NAME: [["127.0.0.2", "127.0.0.1"]]}, allow=("127.0.0.0/8",))
    result = await sender.send(
        f"http://{NAME}:{receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code == 200
    assert result.address == "127.0.0.1"


async def test_every_address_refusing_is_a_retryable_failure(receiver: Receiver) -> None:
    sender = _sender({NAME: [["127.0.0.2", "127.0.0.3"]]}, allow=("127.0.0.0/8",))
    result = await sender.send(
        f"http://{NAME}:{receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error is not None
    assert result.error.startswith("cannot connect to 127.0.0.3")


@pytest.mark.parametrize(
    ("path", "status", "retryable", "disable", "retry_after"),
    [
        ("/fail", 500, True, False, None),
        ("/busy", 503, True, False, 120.0),
        ("/redirect", 302, True, False, None),
        ("/gone", 410, False, True, None),
    ],
)
async def test_answers_are_classified(
    receiver: Receiver,
    path: str,
    status: int,
    retryable: bool,
    disable: bool,
    retry_after: float | None,
) -> None:
    result = await _sender().send(
        f"http://{NAME}:{receiver.port}{path}",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert not result.succeeded
    assert (result.status_code, result.retryable, result.disable_endpoint) == (
        status,
        retryable,
        disable,
    )
    assert result.retry_after == retry_after
    assert result.error is not None
    # A redirect is not followed: the receiver saw exactly the one request.
    assert [r.target for r in receiver.requests] == [path]


async def test_a_receiver_that_is_not_http_is_a_retryable_failure(receiver: Receiver) -> None:
    result = await _sender().send(
        f"http://{NAME}:{receiver.port}/garbage",
        message_id="m",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error is not None
    assert result.error.startswith("HTTP error:")


async def test_a_receiver_that_hangs_is_bounded_by_the_total_timeout(receiver: Receiver) -> None:
    sender = _sender(config=SenderConfig(connect_timeout=0.5, total_timeout=0.5))
    started = time.monotonic()
    result = await sender.send(
        f"http://{NAME}:{receiver.port}/hang",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    elapsed = time.monotonic() - started
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error is not None
    assert "time" in result.error
    assert 0.4 < elapsed < 3.0
    assert 400 <= result.latency_ms < 3000


async def test_a_dripping_body_is_bounded_by_the_total_timeout(receiver: Receiver) -> None:
    sender = _sender(config=SenderConfig(total_timeout=0.6))
    started = time.monotonic()
    result = await sender.send(
        f"http://{NAME}:{receiver.port}/drip",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert time.monotonic() - started < 3.0
    assert (result.status_code, result.retryable) == (None, True)


async def test_a_huge_body_is_read_up_to_the_cap_then_dropped(receiver: Receiver) -> None:
    sender = _sender(config=SenderConfig(max_response_bytes=64 * 1024, total_timeout=5.0))
    started = time.monotonic()
    result = await sender.send(
        f"http://{NAME}:{receiver.port}/huge",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert time.monotonic() - started < 3.0
    assert result.succeeded
    assert len(result.response_excerpt) == 1024
    # Let the receiver notice the hang-up; what it managed to send is what socket buffers held.
    for _ in range(100):
        if not receiver._handlers:
            break
        await asyncio.sleep(0.02)
    assert receiver.huge_bytes_sent < HUGE_BYTES // 4


async def test_an_oversized_request_body_is_a_caller_error() -> None:
    sender = _sender(config=SenderConfig(max_request_bytes=10))
    with pytest.raises(ValueError, match="over 10 bytes"):
        await sender.send("http://x.example.com/", message_id="m", body=b"x" * 11, secrets=[])


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_receiver(authority: trustme.CA) -> AsyncIterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(NAME).configure_cert(context)
    server = Receiver(ssl_context=context)

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        server.sni.append(name)

    context.sni_callback = record_sni
    await server.start()
    yield server
    await server.stop()


def _trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


async def test_tls_to_the_pinned_ip_verifies_the_hostname(
    tls_receiver: Receiver, authority: trustme.CA
) -> None:
    sender = _sender(ssl_context=_trusting(authority))
    secret = generate_secret()
    result = await sender.send(
        f"https://{NAME}:{tls_receiver.port}/ok", message_id="msg_1", body=BODY, secrets=[secret]
    )
    assert result.status_code == 200, result.error
    assert result.address == "127.0.0.1"
    assert tls_receiver.sni == [NAME]
    [request] = tls_receiver.requests
    assert request.headers["host"] == f"{NAME}:{tls_receiver.port}"
    Webhook(secret).verify(request.body, request.headers)


async def test_tls_with_a_name_the_certificate_does_not_cover_fails(
    tls_receiver: Receiver, authority: trustme.CA
) -> None:
    wrong = "wrong.example.com"
    sender = _sender({wrong: [["127.0.0.1"]]}, ssl_context=_trusting(authority))
    result = await sender.send(
        f"https://{wrong}:{tls_receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code is None
    assert result.retryable
    assert result.error is not None
    assert "hostname mismatch" in result.error.lower()
    assert tls_receiver.sni == [wrong]
    assert tls_receiver.requests == []


async def test_tls_with_an_untrusted_certificate_fails(tls_receiver: Receiver) -> None:
    # The default trust store: the test CA is not in it.
    result = await _sender().send(
        f"https://{NAME}:{tls_receiver.port}/ok",
        message_id="msg_1",
        body=BODY,
        secrets=[generate_secret()],
    )
    assert result.status_code is None
    assert result.error is not None
    assert "certificate" in result.error.lower()
    assert tls_receiver.requests == []
