"""`python -m voidrunner.devstack run [--reload]`, `... migrate up|down [--steps N]`,
`... secrets compose|k8s` (deploy_secrets) and `... admin grant|revoke EMAIL` (beside `run`)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from voidrunner.devstack.deploy_secrets import compose_secrets, k8s_secrets
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
    sec = sub.add_parser("secrets", help="generate a deployment's missing secrets")
    sec.add_argument("target", choices=["compose", "k8s"])
    sec.add_argument("--env-file", type=Path, default=Path(".env"))
    sec.add_argument("--dir", type=Path, help="where the files go (.secrets for compose)")
    adm = sub.add_parser("admin", help="make a user of the running stack an admin, or not")
    adm.add_argument("action", choices=["grant", "revoke"])
    adm.add_argument("email")
    args = parser.parse_args()
    if args.command == "admin":
        return _admin(args.action, args.email)
    if args.command == "run":
        return run(reload=args.reload)
    if args.command == "secrets":
        return _secrets(args.target, args.env_file, args.dir)
    stack = DevStack(DevSettings())
    try:
        database_url, nats_url = stack.start_infrastructure()
        env = stack.service_env(database_url, nats_url)
        if args.direction == "up":
            stack.migrate(env)
        for name in [] if args.direction == "up" else list(reversed(MIGRATING)):
            cmd = [sys.executable, "-m", f"voidrunner.{name}", "migrate", "down"]
            cmd += ["--steps", str(args.steps)]
            subprocess.run(cmd, env=stack.env_of(name, env), check=True)
    finally:
        stack.stop()
    return 0


def _admin(action: str, email: str) -> int:
    """The auth service's `admin` command, with the environment auth has in the running stack."""
    stack = DevStack(DevSettings())
    found = stack.attach()
    if found is None:
        print("error: no stack is running here: start it with `make run` first", file=sys.stderr)
        return 1
    env = stack.env_of("auth", stack.service_env(*found))
    cmd = [sys.executable, "-m", "voidrunner.auth", "admin", action, email]
    return subprocess.run(cmd, env=env, check=False).returncode


def _secrets(target: str, env_file: Path, directory: Path | None) -> int:
    if target == "compose":
        added = compose_secrets(env_file, Path(".env.example"), directory or Path(".secrets"))
        for name in added:
            print(f"generated {name} into {env_file}")
    else:
        k8s_secrets(directory or Path("deploy/k8s/overlays/dev/generated"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
