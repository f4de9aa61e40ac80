"""`python -m voidrunner.auth [serve | migrate up | migrate down --steps N]`."""

from __future__ import annotations

import sys

from voidrunner.auth.schema import COMPONENT, MIGRATIONS_DIR
from voidrunner.auth.settings import AuthSettings
from voidrunner.common.cli import serve_or_migrate


def main() -> None:
    """Entry point of the auth process."""

    def build(settings: AuthSettings) -> object:
        from voidrunner.auth.main import AuthApp

        return AuthApp(settings)

    serve_or_migrate(
        sys.argv[1:],
        settings_type=AuthSettings,
        build=build,
        component=COMPONENT,
        migrations_dir=MIGRATIONS_DIR,
    )


if __name__ == "__main__":
    main()
