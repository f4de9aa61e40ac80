"""Fixtures shared by every test tree: real PostgreSQL and NATS (see voidrunner.devstack)."""

pytest_plugins = ["voidrunner.devstack.pytest_plugin"]
