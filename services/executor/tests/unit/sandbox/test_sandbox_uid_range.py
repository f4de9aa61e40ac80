"""Sandbox uid ranges: bounds, and the host's users, groups, subordinate ids and uid maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from voidrunner.executor.sandbox.types import SandboxError
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, MAX_UID, UidRange, check_range


def host(tmp_path: Path, **files: str) -> tuple[Path, Path]:
    etc, proc = tmp_path / "etc", tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    etc.mkdir()
    defaults = {
        "passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/sbin/nologin\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "subuid": "alice:100000:65536\n",
        "subgid": "alice:100000:65536\n",
        "uid_map": "         0          0 4294967295\n",
        "gid_map": "         0          0 4294967295\n",
    }
    for name, text in {**defaults, **files}.items():
        (proc / "self" / name if name.endswith("_map") else etc / name).write_text(text)
    return etc, proc


def test_bounds() -> None:
    assert list(UidRange(10, 3)) == [10, 11, 12]
    assert 12 in UidRange(10, 3)
    assert 13 not in UidRange(10, 3)
    assert str(UidRange(10, 3)) == "10-12"
    for base, count in ((0, 1), (-5, 10), (1, 0), (MAX_UID, 2)):
        with pytest.raises(ValueError, match="uid"):
            UidRange(base, count)


def test_the_default_range_is_free_on_a_usual_host(tmp_path: Path) -> None:
    etc, proc = host(tmp_path)
    check_range(UidRange(DEFAULT_UID_BASE, 256), etc=etc, proc=proc)


@pytest.mark.parametrize(
    ("uids", "files", "named"),
    [
        (UidRange(65530, 8), {}, "65534 is nobody"),
        (UidRange(999, 4), {"passwd": "svc:x:1001:1001::/:/bin/false\n"}, "svc (1001)"),
        (UidRange(999, 4), {"group": "docker:x:1000:\n"}, "docker (1000)"),
        (UidRange(150000, 4), {}, "alice:100000:65536"),
        (
            UidRange(DEFAULT_UID_BASE, 4),
            {"uid_map": "0 100000 65536\n"},
            "not mapped in this user namespace",
        ),
    ],
)
def test_clashes_are_refused_by_name(
    tmp_path: Path, uids: UidRange, files: dict[str, str], named: str
) -> None:
    etc, proc = host(tmp_path, **files)
    with pytest.raises(SandboxError, match="VOIDRUNNER_SANDBOX_UID_BASE") as caught:
        check_range(uids, etc=etc, proc=proc)
    assert named in str(caught.value)


def test_this_hosts_own_files_accept_the_default_range() -> None:
    check_range(UidRange(DEFAULT_UID_BASE, 2))
