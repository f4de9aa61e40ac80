"""One webhook attempt: vet the URL, connect to a vetted address, POST, classify the answer.

The connection goes to the IP address the guard approved (the URL carries the IP), while the
Host header, TLS SNI and certificate check use the original name (httpcore's `sni_hostname`
request extension). So the name is resolved exactly once per attempt, by the guard. Each
attempt has its own client with no keep-alive: a pooled connection verified for one name must
never carry a request for another name on the same IP. Proxies from the environment are
ignored (a proxy would resolve the name itself), redirects are not followed (a 3xx is a failed
attempt, as the spec says), and the response is read up to a cap, then the connection closed.
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from voidrunner.tasks.webhooks.addresses import IPAddress
from voidrunner.tasks.webhooks.errors import UnresolvableWebhookHost, UnsafeWebhookUrl
from voidrunner.tasks.webhooks.guard import UrlGuard, VettedTarget
from voidrunner.tasks.webhooks.signing import signed_headers

_GONE = 410


@dataclass(frozen=True, slots=True)
class SenderConfig:
    """Limits of one attempt."""

    connect_timeout: float = 5.0
    # The whole attempt: resolution, connection, TLS, request and reading the answer.
    total_timeout: float = 15.0
    max_request_bytes: int = 256 * 1024
    max_response_bytes: int = 64 * 1024
    excerpt_bytes: int = 1024
    max_error_chars: int = 300
    user_agent: str = "VoidRunner-Webhooks/1"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt came to; `error` is short and safe to show to the endpoint's owner.

    `status_code` is None when no answer came (refused URL, DNS, connection, TLS, timeout).
    `retryable`: schedule another attempt (non-2xx answers other than 410, network faults,
    a host that did not resolve). A URL the guard refuses at attempt time is not retryable:
    its answers changed to a refused address, which waiting does not make safe.
    `disable_endpoint`: the receiver answered 410 Gone. `retry_after`: its Retry-After in
    seconds. `address`: the vetted IP last connected to. `response_excerpt`: the first bytes
    of the answer's body (at most `SenderConfig.excerpt_bytes`).
    """

    status_code: int | None
    latency_ms: int
    error: str | None
    retryable: bool
    disable_endpoint: bool
    retry_after: float | None = None
    address: str | None = None
    response_excerpt: bytes = b""

    @property
    def succeeded(self) -> bool:
        """A 2xx answer: the message is delivered."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """Delivers signed webhook POSTs, one attempt per `send`, through the SSRF guard."""

    def __init__(
        self,
        guard: UrlGuard,
        *,
        config: SenderConfig | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._guard = guard
        self._config = config or SenderConfig()
        self._ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._clock = clock

    async def send(
        self, url: str, *, message_id: str, body: bytes, secrets: Sequence[str]
    ) -> DeliveryResult:
        """Make one attempt to deliver `body` (JSON) to `url`, signed with every secret.

        Never raises for the receiver's or the network's faults; those become the result.
        ValueError for a caller's mistake (a body over the cap, a bad id or secret).
        """
        if len(body) > self._config.max_request_bytes:
            raise ValueError(f"webhook body over {self._config.max_request_bytes} bytes")
        headers = signed_headers(message_id, int(self._clock()), body, secrets)
        started = time.monotonic()
        attempt = _Attempt(self._config, started, self._clock)
        try:
            async with asyncio.timeout(self._config.total_timeout):
                target = await self._guard.vet(url)
                return await self._post(target, headers, body, attempt)
        except UnsafeWebhookUrl as exc:
            return attempt.failed(exc.message, retryable=False)
        except UnresolvableWebhookHost as exc:
            return attempt.failed(exc.message, retryable=True)
        except TimeoutError:
            return attempt.failed(
                f"timed out after {self._config.total_timeout:g} s", retryable=True
            )

    async def _post(
        self, target: VettedTarget, signed: dict[str, str], body: bytes, attempt: _Attempt
    ) -> DeliveryResult:
        url = target.url
        headers = {
            **signed,
            "host": url.host_header,
            "content-type": "application/json",
            "user-agent": self._config.user_agent,
            # Raw bytes only: a compressed answer could expand past any cap we count.
            "accept-encoding": "identity",
            "connection": "close",
        }
        extensions = {} if url.address is not None else {"sni_hostname": url.host}
        error = "no address to connect to"
        # Every address was vetted; the next is tried only when connecting fails.
        for address in target.addresses:
            attempt.address = str(address)
            try:
                async with self._client() as client:
                    request = client.build_request(
                        "POST",
                        _pinned_url(url.scheme, address, url.port, url.target),
                        headers=headers,
                        content=body,
                        extensions=extensions,
                    )
                    response = await client.send(request, stream=True)
                    try:
                        excerpt = await self._read_capped(response)
                    finally:
                        await response.aclose()
                    return attempt.answered(response, excerpt)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = f"cannot connect to {address}: {_describe(exc)}"
            except httpx.TimeoutException:
                return attempt.failed("the receiver did not answer in time", retryable=True)
            except httpx.HTTPError as exc:
                return attempt.failed(f"HTTP error: {_describe(exc)}", retryable=True)
        return attempt.failed(error, retryable=True)

    def _client(self) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context,
            trust_env=False,
            retries=0,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
        )
        return httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self._config.total_timeout, connect=self._config.connect_timeout),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        kept = bytearray()
        read = 0
        async for chunk in response.aiter_raw():
            if len(kept) < self._config.excerpt_bytes:
                kept += chunk[: self._config.excerpt_bytes - len(kept)]
            read += len(chunk)
            if read >= self._config.max_response_bytes:
                break  # closing the response drops the connection and the rest of the body
        return bytes(kept)


class _Attempt:
    """Builds the result of one attempt, timing it from the start."""

    def __init__(self, config: SenderConfig, started: float, clock: Callable[[], float]) -> None:
        self._config = config
        self._started = started
        self._clock = clock
        self.address: str | None = None

    def _latency_ms(self) -> int:
        return round((time.monotonic() - self._started) * 1000)

    def failed(self, error: str, *, retryable: bool) -> DeliveryResult:
        return DeliveryResult(
            status_code=None,
            latency_ms=self._latency_ms(),
            error=_bounded(error, self._config.max_error_chars),
            retryable=retryable,
            disable_endpoint=False,
            address=self.address,
        )

    def answered(self, response: httpx.Response, excerpt: bytes) -> DeliveryResult:
        status = response.status_code
        error: str | None = None
        if 300 <= status < 400:
            error = f"redirect ({status}) not followed; update the webhook URL instead"
        elif status == _GONE:
            error = "the receiver answered 410 Gone; the endpoint is disabled"
        elif not 200 <= status < 300:
            error = f"the receiver answered {status}"
        return DeliveryResult(
            status_code=status,
            latency_ms=self._latency_ms(),
            error=None if error is None else _bounded(error, self._config.max_error_chars),
            retryable=error is not None and status != _GONE,
            disable_endpoint=status == _GONE,
            retry_after=retry_after_seconds(response.headers.get("retry-after"), self._clock()),
            address=self.address,
            response_excerpt=excerpt,
        )


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None if absent."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:9]))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _pinned_url(scheme: str, address: IPAddress, port: int, target: str) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{scheme}://{host}:{port}{target}"


def _describe(exc: BaseException) -> str:
    # httpx's message, else the cause's (an SSL verification failure says what was wrong).
    text = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
    return " ".join(text.split())


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
