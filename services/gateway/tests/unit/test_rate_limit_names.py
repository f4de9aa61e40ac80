"""The list of per-route rate limits matches the settings that hold them."""

from __future__ import annotations

from voidrunner.gateway.settings import RATE_LIMITS, GatewaySettings, rate_limits_at


def test_every_named_limit_is_an_integer_setting_and_none_is_missing() -> None:
    fields = GatewaySettings.model_fields
    per_route = {
        name.removeprefix("rate_limit_")
        for name, field in fields.items()
        if name.startswith("rate_limit_")
        and field.annotation is int
        and name != "rate_limit_window_seconds"
    }
    assert per_route == set(RATE_LIMITS)
    assert rate_limits_at(7) == {f"rate_limit_{name}": 7 for name in RATE_LIMITS}
