"""Fixtures for every test tree: real PostgreSQL, NATS and services (see voidrunner.devstack)."""

pytest_plugins = [
    "voidrunner.devstack.pytest_plugin",
    "voidrunner.devstack.stack_fixtures",
    "voidrunner.devstack.hardening_report",
]
