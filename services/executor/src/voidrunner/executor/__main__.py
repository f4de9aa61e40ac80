"""`python -m voidrunner.executor`."""

from __future__ import annotations

import asyncio
import os
import sys

# gRPC's fork support stops and restarts its threads around every fork, in both processes (15-25 ms
# per sandbox when bwrap was spawned through a pre-exec hook). Spawns now vfork, which skips fork
# handlers; this keeps any fork the executor still makes (a subprocess with a hook) from paying
# for it. Read when gRPC first initialises, so it is set before anything imports it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from voidrunner.common.cli import serve_or_migrate
from voidrunner.executor.settings import ExecutorSettings


def main() -> None:
    """Entry point of the executor process."""

    def build(settings: ExecutorSettings) -> object:
        from voidrunner.executor.main import ExecutorApp

        return ExecutorApp(settings, drop_capabilities=settings.executor_drop_capabilities)

    if sys.version_info < (3, 12):  # 3.12 made it the default where pidfds exist
        # One pidfd per sandbox instead of one waiting thread per sandbox (ThreadedChildWatcher).
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    # asyncio's own loop, not uvloop: uvloop forks for every subprocess (5 ms and 1.9 ms of CPU
    # per spawn measured here for an 80 MB process), asyncio vforks (0.8 ms, 0.4 ms of CPU), and
    # the executor spawns a sandbox per run while its network traffic is a few messages per run.
    serve_or_migrate(sys.argv[1:], settings_type=ExecutorSettings, build=build, uvloop=False)


if __name__ == "__main__":
    main()
