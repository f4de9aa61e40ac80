"""`python -m voidrunner.tasks [serve | migrate up | migrate down --steps N]`."""

from __future__ import annotations

import sys

from voidrunner.common.cli import serve_or_migrate
from voidrunner.tasks.schema import COMPONENT, MIGRATIONS_DIR
from voidrunner.tasks.settings import TasksSettings


def main() -> None:
    """Entry point of the tasks process."""

    def build(settings: TasksSettings) -> object:
        from voidrunner.tasks.main import TasksApp

        return TasksApp(settings)

    serve_or_migrate(
        sys.argv[1:],
        settings_type=TasksSettings,
        build=build,
        component=COMPONENT,
        migrations_dir=MIGRATIONS_DIR,
    )


if __name__ == "__main__":
    main()
