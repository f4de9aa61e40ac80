"""`python -m voidrunner.auth [serve | migrate up | migrate down --steps N |
admin grant|revoke EMAIL]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from voidrunner.auth.schema import COMPONENT, MIGRATIONS_DIR
from voidrunner.auth.settings import AuthSettings
from voidrunner.common.cli import serve_or_migrate


def admin(argv: list[str]) -> int:
    """`admin grant|revoke EMAIL`: make a user an admin, or a user again (auth.roles)."""
    from voidrunner.auth.roles import change_role
    from voidrunner.common.errors import NotFound
    from voidrunner.contracts.roles import Role

    parser = argparse.ArgumentParser(prog="voidrunner-auth admin")
    parser.add_argument("action", choices=["grant", "revoke"])
    parser.add_argument("email")
    args = parser.parse_args(argv)
    role = Role.ADMIN if args.action == "grant" else Role.USER
    try:
        change = asyncio.run(change_role(AuthSettings(), args.email, role))
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if role == Role.ADMIN:
        print(f"{change.email} is an admin from their next sign-in or token refresh")
    else:
        print(f"{change.email} is no longer an admin: {change.sessions_revoked} session(s) revoked")
    if not change.published:
        print(
            "warning: NATS unreachable; the auth service publishes the change within its "
            "revocation sync and key rebuild periods",
            file=sys.stderr,
        )
    return 0


def main() -> None:
    """Entry point of the auth process."""
    if sys.argv[1:2] == ["admin"]:
        sys.exit(admin(sys.argv[2:]))

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
