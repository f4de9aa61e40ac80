"""`python -m voidrunner.scheduler`."""

from __future__ import annotations

import sys

from voidrunner.common.cli import serve_or_migrate
from voidrunner.scheduler.settings import SchedulerSettings


def main() -> None:
    """Entry point of the scheduler process."""

    def build(settings: SchedulerSettings) -> object:
        from voidrunner.scheduler.main import SchedulerApp

        return SchedulerApp(settings)

    serve_or_migrate(sys.argv[1:], settings_type=SchedulerSettings, build=build)


if __name__ == "__main__":
    main()
