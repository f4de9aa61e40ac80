"""Which scope a request needs, and the key text the gateway accepts."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from voidrunner.contracts.api_keys import KeyEntry, Scope, effective, format_key, parse_key
from voidrunner.contracts.roles import Role
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
        ("GET", "/api/v1/admin/stats", Scope.ADMIN),
        ("GET", "/api/v1/admin/executors", Scope.ADMIN),
        ("GET", "/api/v1/adminX", Scope.READ),
    ],
)
def test_required_scope(method: str, path: str, scope: Scope) -> None:
    assert required_scope(method, path) is scope


def test_scopes_imply_the_narrower_ones() -> None:
    assert effective(frozenset({Scope.RUN})) == {Scope.READ, Scope.RUN}
    assert effective(frozenset({Scope.MANAGE})) == {Scope.READ, Scope.RUN, Scope.MANAGE}
    # The admin scope opens the admin routes and lets the key look; it runs and manages nothing.
    assert effective(frozenset({Scope.ADMIN})) == {Scope.READ, Scope.ADMIN}


def test_a_key_is_admin_only_with_the_scope_and_an_admin_owner() -> None:
    def entry(scopes: set[Scope], role: Role) -> KeyEntry:
        return KeyEntry(uuid.uuid4(), "a@example.com", frozenset(scopes), "h", None, role)

    assert entry({Scope.ADMIN}, Role.ADMIN).is_admin
    assert not entry({Scope.ADMIN}, Role.USER).is_admin
    assert not entry({Scope.MANAGE}, Role.ADMIN).is_admin
    # What the bucket carries survives the trip; an entry from before owner_role is a user's.
    admin = entry({Scope.ADMIN, Scope.READ}, Role.ADMIN)
    assert KeyEntry.decode(admin.encode()) == admin
    legacy = json.loads(admin.encode())
    del legacy["owner_role"]
    assert KeyEntry.decode(json.dumps(legacy).encode()).owner_role is Role.USER


def test_only_the_exact_key_text_parses() -> None:
    key_id, secret = uuid.uuid4(), os.urandom(32)
    key = format_key(key_id, secret)
    assert parse_key(key) == (key_id, secret)
    for bad in (key[:-1], key + "A", "xx" + key[2:], key[:25] + "-" + key[26:], "vr_"):
        assert parse_key(bad) is None, bad
