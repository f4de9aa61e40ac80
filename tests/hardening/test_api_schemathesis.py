"""Property-based requests against the live gateway's own /openapi.json, authenticated.

Every operation gets a bounded number of derandomized examples, valid (positive) and invalid
(negative) ones; each response must be no 5xx, a documented status code with the documented
content type and body, and invalid input must be rejected. schemathesis calls the server
synchronously, so it runs in a worker thread while the stack keeps serving on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup

from tests.hardening.users import API, PASSWORD, User, create_task, sign_up
from voidrunner.gateway.params import MAX_WAIT

# `make test` sends a quick sweep of every operation; `make test-hardening` (CI runs both) the
# full one, which the hardening report counts.
EXAMPLES_PER_MODE = 40 if os.environ.get("VOIDRUNNER_HARDENING_LONG") == "1" else 12
REQUEST_TIMEOUT = 10.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Operations whose call would end the shared session; each case gets a session of its own.
SESSION_ENDING = {("POST", f"{API}/auth/logout")}


def _fresh_token(base_url: str, user: User) -> str:
    resp = httpx.post(
        f"{base_url}{API}/auth/login",
        json={"email": user.email, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT,
    )
    resp.raise_for_status()
    token: str = resp.json()["access_token"]
    return token


class _Fuzzer:
    """Runs one operation's examples in one generation mode and counts what it sent."""

    def __init__(self, base_url: str, user: User) -> None:
        self.base_url = base_url
        self.user = user
        self.sent = 0

    def _headers(self, label: tuple[str, str]) -> dict[str, str]:
        token = (
            _fresh_token(self.base_url, self.user)
            if label in SESSION_ENDING
            else self.user.access_token
        )
        return {"Authorization": f"Bearer {token}"}

    def test_for(self, operation: Any, mode: GenerationMode, examples: int) -> Callable[[], None]:
        label = (operation.method.upper(), operation.path)
        checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

        def run(case: Any) -> None:
            self.sent += 1
            # No executor runs here: a valid ?wait=N would hold the request N seconds (up to
            # 60) for nothing but the client's timeout. A valid wait is at most 1 s here, in
            # negative cases too: one whose invalid part the server ignores (a header it does
            # not read) is a valid request that waits. An invalid wait stays as it is.
            wait = (case.query or {}).get("wait")
            if isinstance(wait, int) and 1 < wait <= MAX_WAIT:
                case.query["wait"] = 1
            headers = self._headers(label)
            response = case.call(base_url=self.base_url, headers=headers, timeout=REQUEST_TIMEOUT)
            case.validate_response(response, checks=checks, headers=headers)

        test: Callable[[], None] = hypothesis.settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )(hypothesis.given(operation.as_strategy(generation_mode=mode))(run))  # type: ignore[no-untyped-call]
        return test


def _checks_bite(schema: Any, base_url: str) -> None:
    """Positive control: the checks reject a 500 and an undocumented body for a real operation."""
    operation = schema["/api/v1/ping"]["GET"]
    case = operation.Case()
    for status, body in ((500, b'{"error":"Internal server error"}'), (200, b'{"pong":1}')):
        fake = requests.Response()
        fake.status_code = status
        fake._content = body
        fake.headers["Content-Type"] = "application/json"
        fake.url = f"{base_url}/api/v1/ping"
        fake.request = requests.Request("GET", fake.url).prepare()
        fake.elapsed = dt.timedelta(milliseconds=1)
        with pytest.raises((AssertionError, FailureGroup)):
            case.validate_response(fake, checks=CHECKS)


def _fuzz(base_url: str, user: User, examples: int) -> tuple[int, list[str]]:
    """Run every operation; returns (cases sent, failure reports)."""
    config = SchemathesisConfig.discover()
    # Every case is sent with the fuzzer's real token (see _Fuzzer): an Authorization header
    # generated from the document's security scheme would be overridden anyway, and a negative
    # case that "drops" it would be misread as invalid input the API accepted.
    config.projects.default.generation.update(with_security_parameters=False)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    _checks_bite(schema, base_url)
    fuzzer = _Fuzzer(base_url, user)
    failures: list[str] = []
    unsatisfiable: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):  # an operation schemathesis cannot read is a finding too
            failures.append(f"unreadable operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzzer.test_for(operation, mode, examples)()
            except Unsatisfiable:
                # No invalid input exists for it (no parameters, or free-form strings only).
                unsatisfiable.append(f"{operation.method.upper()} {operation.path} [{mode.value}]")
            except (
                Exception,
                FailureGroup,
            ) as exc:  # a failed check (or a crash of the run): report, go on
                label = f"{operation.method.upper()} {operation.path} [{mode.value}]"
                failures.append(f"{label}: {exc}")
    return fuzzer.sent, failures


@pytest.mark.hardening(suite="api/schemathesis")
async def test_every_operation_conforms_to_its_schema(
    client: httpx.AsyncClient, gateway_url: str, hardening_counters: Any
) -> None:
    user = await sign_up(client, "fuzzer")
    # Something real to find among the random ids: a task with a finished-or-pending execution.
    task = await create_task(client, user)
    started = await client.post(f"{API}/tasks/{task['id']}/executions", headers=user.auth)
    assert started.status_code == 201
    sent, failures = await asyncio.to_thread(_fuzz, gateway_url, user, EXAMPLES_PER_MODE)
    hardening_counters.add_cases(sent)
    hardening_counters.add_5xx(sum("Server error" in f for f in failures))
    assert sent > 20 * EXAMPLES_PER_MODE  # every operation ran
    assert not failures, "\n\n".join(failures)
