"""The webhook core's errors; each message is safe to return to the user who gave the URL.

InvalidArgument (voidrunner.common.errors: INVALID_ARGUMENT, a 4xx at the gateway)
├── UnsafeWebhookUrl          the URL or an address it resolves to is refused; carries `reason`
├── UnresolvableWebhookHost   the host has no address (NXDOMAIN, timeout); may work later
└── InvalidWebhookSecret      not a `whsec_` secret of 24 to 64 bytes
"""

from __future__ import annotations

from voidrunner.common.errors import InvalidArgument


class UnsafeWebhookUrl(InvalidArgument):
    """The URL breaks a rule, or resolves to an address webhooks may not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Unsafe webhook URL: {reason}")
        self.reason = reason


class UnresolvableWebhookHost(InvalidArgument):
    """The host did not resolve; unlike an unsafe URL, a later attempt may succeed."""

    def __init__(self, host: str) -> None:
        super().__init__(f"Webhook host does not resolve: {host}")
        self.host = host


class InvalidWebhookSecret(InvalidArgument):
    """A signing secret that is not `whsec_` followed by base64 of 24 to 64 bytes."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid webhook secret: {reason}")
        self.reason = reason
