"""Hosts that forbid unprivileged user namespaces are told what to set, at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voidrunner.executor.sandbox.types import SandboxError
from voidrunner.executor.sandbox.userns import check_userns, userns_restriction


def sysctls(tmp_path: Path, **values: str) -> Path:
    root = tmp_path / "sys"
    for name, value in values.items():
        path = root / name.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    return root


def test_ubuntu_apparmor_restriction_names_the_profile_and_the_sysctl(tmp_path: Path) -> None:
    proc_sys = sysctls(tmp_path, **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    cause = userns_restriction("/usr/bin/bwrap", proc_sys)
    assert cause is not None
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in cause
    assert "profile bwrap /usr/bin/bwrap flags=(unconfined)" in cause
    assert "userns," in cause
    assert "/etc/apparmor.d/bwrap" in cause


def test_other_switches(tmp_path: Path) -> None:
    debian = sysctls(tmp_path / "a", **{"kernel.unprivileged_userns_clone": "0"})
    assert "kernel.unprivileged_userns_clone=1" in (userns_restriction("bwrap", debian) or "")
    none = sysctls(tmp_path / "b", **{"user.max_user_namespaces": "0"})
    assert "user.max_user_namespaces" in (userns_restriction("bwrap", none) or "")
    open_host = sysctls(
        tmp_path / "c",
        **{"kernel.apparmor_restrict_unprivileged_userns": "0", "user.max_user_namespaces": "9"},
    )
    assert userns_restriction("bwrap", open_host) is None


def test_a_refused_probe_says_what_to_set(tmp_path: Path) -> None:
    # A stand-in for bwrap on a restricting host: it fails the way bwrap does there.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    proc_sys = sysctls(tmp_path, **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    with pytest.raises(SandboxError) as caught:
        check_userns([str(fake)], as_uid="uid 1879048192", proc_sys=proc_sys)
    message = str(caught.value)
    assert "as uid 1879048192" in message
    assert "setting up uid map: Permission denied" in message
    assert "apparmor_restrict_unprivileged_userns" in message


def test_the_probe_passes_here() -> None:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bwrap is not installed")
    check_userns([bwrap], as_uid="this user")
