"""Which scope a request needs, and the key text the gateway accepts."""

from __future__ import annotations

import os
import uuid

import pytest

from voidrunner.contracts.api_keys import Scope, effective, format_key, parse_key
from voidrunner.gateway.deps import required_scope


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/auth/api-keys", Scope.READ),
        ("GET", "/api/v1/tasks", Scope.READ),
        ("POST", "/api/v1/tasks", Scope.RUN),
        ("PUT", "/api/v1/tasks/1", Scope.RUN),
        ("POST", "/api/v1/tasks/1/executions", Scope.RUN),
        ("DELETE", "/api/v1/executions/1", Scope.RUN),
        ("POST", "/api/v1/runs", Scope.RUN),
        ("POST", "/api/v1/auth/api-keys", Scope.MANAGE),
        ("DELETE", "/api/v1/auth/api-keys/1", Scope.MANAGE),
        ("POST", "/api/v1/tasksX", Scope.MANAGE),  # a prefix of a word is not the route
    ],
)
def test_required_scope(method: str, path: str, scope: Scope) -> None:
    assert required_scope(method, path) is scope


def test_scopes_imply_the_narrower_ones() -> None:
    assert effective(frozenset({Scope.RUN})) == {Scope.READ, Scope.RUN}
    assert effective(frozenset({Scope.MANAGE})) == set(Scope)


def test_only_the_exact_key_text_parses() -> None:
    key_id, secret = uuid.uuid4(), os.urandom(32)
    key = format_key(key_id, secret)
    assert parse_key(key) == (key_id, secret)
    for bad in (key[:-1], key + "A", "xx" + key[2:], key[:25] + "-" + key[26:], "vr_"):
        assert parse_key(bad) is None, bad
