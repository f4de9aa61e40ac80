"""`python -m voidrunner.executor`."""

from __future__ import annotations

import os
import sys

# gRPC's fork support stops and restarts its threads around every fork in both processes; the
# executor forks for every sandbox (the child only joins cgroups, drops privileges and execs
# bwrap, never touching gRPC), and that dance cost 15-25 ms per run. Read when gRPC first
# initialises, so it is set before anything imports it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from voidrunner.common.cli import serve_or_migrate
from voidrunner.executor.settings import ExecutorSettings


def main() -> None:
    """Entry point of the executor process."""

    def build(settings: ExecutorSettings) -> object:
        from voidrunner.executor.main import ExecutorApp

        return ExecutorApp(settings)

    serve_or_migrate(sys.argv[1:], settings_type=ExecutorSettings, build=build)


if __name__ == "__main__":
    main()
