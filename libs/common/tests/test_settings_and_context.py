"""Settings refuse placeholder secrets in production; request ids are accepted only when safe."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from voidrunner.common.request_context import accept_or_new, current_request_id, set_request_id
from voidrunner.common.settings import BaseServiceSettings


class _Settings(BaseServiceSettings):
    api_secret: SecretStr = SecretStr("")
    secret_fields: tuple[str, ...] = ("api_secret",)


def test_placeholder_secrets_refused_only_in_production() -> None:
    assert _Settings(environment="development").api_secret.get_secret_value() == ""
    for bad in ("", "changeme", " Secret "):
        with pytest.raises(ValidationError, match="VOIDRUNNER_API_SECRET"):
            _Settings(environment="production", api_secret=bad)
    ok = _Settings(environment="production", api_secret="a-real-long-random-value")
    assert ok.is_production


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIDRUNNER_LOG_LEVEL", "DEBUG")
    assert _Settings().log_level == "DEBUG"


def test_request_ids() -> None:
    assert accept_or_new("abc-123:x.y") == "abc-123:x.y"
    for hostile in ("", None, "a b", "x" * 129, "id\nInjected: header", "é"):
        fresh = accept_or_new(hostile)
        assert fresh != hostile
        assert len(fresh) == 36
    set_request_id("r-1")
    assert current_request_id() == "r-1"
