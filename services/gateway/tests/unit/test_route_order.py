"""The app's routes may be matched in any order of their modules: no path reaches two modules.

create_app lists the busiest modules first, which is safe only while no request path (and
method) could be matched by routes of two modules; then the first match is the only match.
"""

from __future__ import annotations

from fastapi.routing import APIRoute

from voidrunner.gateway.app import create_app
from voidrunner.gateway.settings import GatewaySettings


def _may_overlap(a: str, b: str) -> bool:
    """Whether some path matches both templates (a `{param}` segment matches any segment)."""
    left, right = a.strip("/").split("/"), b.strip("/").split("/")
    return len(left) == len(right) and all(
        x == y or x.startswith("{") or y.startswith("{") for x, y in zip(left, right, strict=True)
    )


def test_no_path_and_method_is_served_by_two_modules() -> None:
    routes = [r for r in create_app(GatewaySettings()).router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 40
    clashes = [
        (a.path, b.path)
        for i, a in enumerate(routes)
        for b in routes[i + 1 :]
        if a.endpoint.__module__ != b.endpoint.__module__
        and (a.methods or set()) & (b.methods or set())
        and _may_overlap(a.path, b.path)
    ]
    assert clashes == []


def test_the_overlap_check_sees_a_parameter_matching_a_literal() -> None:
    assert _may_overlap("/api/v1/tasks/{task_id}", "/api/v1/tasks/shared")
    assert not _may_overlap("/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/shares")
    assert not _may_overlap("/api/v1/tasks/{task_id}/shares", "/api/v1/tasks/{task_id}/runs")
