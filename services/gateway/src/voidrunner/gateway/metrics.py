"""The gateway's metrics. Routes are labelled by their template (`/api/v1/tasks/{task_id}`), never
by the raw path, and no label carries a user: the series stay bounded whatever callers send."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from starlette.types import Scope

HTTP_REQUESTS = Counter(
    "voidrunner_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "voidrunner_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMITED = Counter(
    "voidrunner_rate_limit_rejections",
    "Requests refused with 429, by the limit they exceeded.",
    ["limit"],
)
AUTH_FAILURES = Counter(
    "voidrunner_auth_failures",
    "Requests refused for their credentials, by kind (missing, invalid).",
    ["kind"],
)
# Methods outside this set share one label value, so a client inventing methods adds no series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_label(scope: Scope) -> str:
    """The template of the route that answered, or "unmatched" (404s, 405s, static files)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def method_label(method: str) -> str:
    """The request's method when it is a standard one, else "other"."""
    return method if method in _METHODS else "other"


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request and its duration."""
    method = method_label(scope["method"])
    route = route_label(scope)
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)
