"""Whether bwrap can create its user namespace here, and what to set where the host forbids it.

    check_userns(["/usr/bin/bwrap"], as_uid="uid 1879048192")   # SandboxError naming the fix

bwrap runs unprivileged (the executor drops to a sandbox uid first when it is root), so it
needs unprivileged user namespaces. Ubuntu 23.10 and later restrict them with AppArmor
(kernel.apparmor_restrict_unprivileged_userns=1): only programs whose profile grants `userns`
may create one. Older Debian kernels had kernel.unprivileged_userns_clone, and any kernel can
set user.max_user_namespaces to 0. A short probe at start-up turns any of these into one clear
error instead of a sandbox_error on every run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from voidrunner.executor.sandbox.types import SandboxError

__all__ = ["APPARMOR_PROFILE", "check_userns", "userns_restriction"]

PROBE_SECONDS = 10.0
# What /etc/apparmor.d/bwrap holds on a host that keeps the restriction for everything else.
APPARMOR_PROFILE = """abi <abi/4.0>,
include <tunables/global>
profile bwrap {bwrap} flags=(unconfined) {{
  userns,
  include if exists <local/bwrap>
}}
"""


def _sysctl(proc_sys: Path, name: str) -> str | None:
    try:
        return (proc_sys / name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def userns_restriction(bwrap: str, proc_sys: Path = Path("/proc/sys")) -> str | None:
    """Which host setting keeps unprivileged processes from creating user namespaces, and the
    fix, or None when none of the known ones does."""
    if _sysctl(proc_sys, "kernel.apparmor_restrict_unprivileged_userns") == "1":
        profile = APPARMOR_PROFILE.format(bwrap=bwrap)
        return (
            "AppArmor restricts unprivileged user namespaces on this host "
            "(kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10+). Either give bwrap "
            f"a profile that allows them: write /etc/apparmor.d/bwrap with\n{profile}"
            "and load it (apparmor_parser -r /etc/apparmor.d/bwrap), or lift the restriction "
            "for every program: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (keep it "
            "in /etc/sysctl.d/). Do not start the executor with no_new_privs (systemd "
            "NoNewPrivileges=): it keeps bwrap from entering its profile"
        )
    if _sysctl(proc_sys, "kernel.unprivileged_userns_clone") == "0":
        return (
            "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0): "
            "sysctl -w kernel.unprivileged_userns_clone=1 (keep it in /etc/sysctl.d/)"
        )
    if _sysctl(proc_sys, "user.max_user_namespaces") == "0":
        return (
            "user namespaces are off (user.max_user_namespaces=0): sysctl -w "
            "user.max_user_namespaces=15000 (keep it in /etc/sysctl.d/)"
        )
    return None


def check_userns(
    command: Sequence[str], *, as_uid: str, proc_sys: Path = Path("/proc/sys")
) -> None:
    """Start `command` (bwrap, behind the uid drop) on an empty sandbox; SandboxError saying what
    to change on the host when it cannot create one."""
    bwrap = command[-1]
    argv = [*command, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PROBE_SECONDS, env={}, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"cannot start bwrap: {exc}") from exc
    if done.returncode == 0:
        return
    said = done.stderr.decode(errors="replace").strip()[-300:] or f"exit status {done.returncode}"
    cause = userns_restriction(bwrap, proc_sys)
    raise SandboxError(
        f"bwrap cannot create a sandbox as {as_uid}: {said}" + (f". {cause}" if cause else "")
    )
