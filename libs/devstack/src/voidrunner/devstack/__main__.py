"""`python -m voidrunner.devstack run [--reload]` and `... migrate up|down [--steps N]`."""

from __future__ import annotations

import argparse
import subprocess
import sys

from voidrunner.devstack.runner import MIGRATING, DevSettings, DevStack, run


def main() -> int:
    """Entry point of the dev runner."""
    parser = argparse.ArgumentParser(prog="voidrunner-devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the whole stack")
    run_p.add_argument("--reload", action="store_true", help="restart services on code changes")
    mig = sub.add_parser("migrate", help="migrate the (embedded or external) database")
    mig.add_argument("direction", choices=["up", "down"])
    mig.add_argument("--steps", type=int, default=1)
    args = parser.parse_args()
    if args.command == "run":
        return run(reload=args.reload)
    stack = DevStack(DevSettings())
    try:
        database_url, nats_url = stack.start_infrastructure()
        env = stack.service_env(database_url, nats_url)
        names = MIGRATING if args.direction == "up" else list(reversed(MIGRATING))
        for name in names:
            cmd = [sys.executable, "-m", f"voidrunner.{name}", "migrate", args.direction]
            if args.direction == "down":
                cmd += ["--steps", str(args.steps)]
            subprocess.run(cmd, env=env, check=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
