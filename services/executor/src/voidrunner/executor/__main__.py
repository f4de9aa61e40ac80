"""`python -m voidrunner.executor`."""

from __future__ import annotations

import sys

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
