"""pytest-xdist work units for `make test` (`-n 2 --dist loadfile`): one test file per unit, as
loadfile does, except the folders whose tests share something of the host between files.

- tests/deploy: the compose smoke stack and the manifests' checks build, start and inspect the
  one Docker engine's images and compose projects; two workers running them at once would
  compete for the engine's CPU through the slowest test of the suite and gain nothing.

Everything else keeps to itself: every worker has its own PostgreSQL, NATS servers per test,
ports from free_port(), sandbox uids of its own (pytest_plugin.WORKER_UID_STRIDE) and cgroup
parents and Docker labels named after its process.
"""

from __future__ import annotations

import pytest

__all__ = ["TOGETHER", "scope_of"]

# Folders (prefixes of node ids) run whole by one worker.
TOGETHER = ("tests/deploy/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadfile`, the TOGETHER folders go first: the workers hand out units in
    collection order, and tests/deploy (the compose stack: 80-110 s before its first test) run
    last had one worker finish minutes after the other."""
    if config.getoption("dist", None) != "loadfile":
        return
    items.sort(key=lambda item: scope_of(item.nodeid) not in TOGETHER)  # stable: order kept


def scope_of(nodeid: str) -> str:
    """The work unit of a test: its folder when listed in TOGETHER, else its file."""
    for folder in TOGETHER:
        if nodeid.startswith(folder):
            return folder
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown where xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With `--dist loadfile`, schedule by `scope_of`; any other mode is xdist's own."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class _Scopes(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return _Scopes(config, log)
