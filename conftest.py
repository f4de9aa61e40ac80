"""Fixtures for every test tree: real PostgreSQL, NATS and services (see voidrunner.devstack)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_testing.conformance import BACKENDS_OUTPUT, merge_backends, write_backends

pytest_plugins = [
    "voidrunner.devstack.pytest_plugin",
    "voidrunner.devstack.stack_fixtures",
    "voidrunner.devstack.hardening_report",
    "voidrunner.devstack.xdist_scopes",
]

# Under pytest-xdist the sandbox suites' conftest runs in the workers only: the controller
# gathers which backends each ran and prints the section the suites print on their own.
_BACKENDS_SEEN: dict[str, str] = {}


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
def pytest_testnodedown(node: Any, error: object) -> None:
    merge_backends(_BACKENDS_SEEN, getattr(node, "workeroutput", {}).get(BACKENDS_OUTPUT, {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_backends(terminalreporter, _BACKENDS_SEEN)
