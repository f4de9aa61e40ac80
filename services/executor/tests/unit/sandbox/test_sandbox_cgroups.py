"""Cgroup v1/v2 detection, layout and file logic against a fake /sys/fs/cgroup in a temp dir."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from voidrunner.executor.sandbox.cgroups import CgroupDriver, CgroupVersion, parse_self_cgroup
from voidrunner.executor.sandbox.types import Limits, SandboxError

V1_SELF = """12:pids:/job
11:cpu,cpuacct:/job
4:memory:/job
1:name=systemd:/job
0::/
"""
LIMITS = Limits(memory_bytes=64 * 1024 * 1024, pids=32, cpu=0.5)


def _v1_root(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for controller in ("memory", "pids", "cpu", "cpuacct"):
        (root / controller / "job").mkdir(parents=True)
    (root / "unified").mkdir()
    self_cgroup = tmp_path / "self_cgroup"
    self_cgroup.write_text(V1_SELF)
    return root, self_cgroup


def test_parse_self_cgroup_splits_comounted_controllers() -> None:
    paths = parse_self_cgroup(V1_SELF)
    assert paths["cpu"] == paths["cpuacct"] == "/job"
    assert paths["systemd"] == "/job"
    assert paths[""] == "/"


def test_detects_v1_and_nests_under_the_own_cgroup(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    driver = CgroupDriver.detect(root=root, self_cgroup=self_cgroup)
    assert driver is not None
    assert driver.version is CgroupVersion.V1
    assert driver.parents["memory"] == root / "memory" / "job" / "voidrunner"
    assert set(driver.parents) == {"memory", "pids", "cpu", "cpuacct"}


async def test_v1_group_writes_limits_and_reads_stats(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    driver = CgroupDriver.detect(root=root, self_cgroup=self_cgroup, rmdir=shutil.rmtree)
    assert driver is not None
    group = driver.create("run-1", LIMITS)
    memory = root / "memory/job/voidrunner/run-1"
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 * 1024 * 1024)
    assert (root / "pids/job/voidrunner/run-1/pids.max").read_text() == "32"
    assert (root / "cpu/job/voidrunner/run-1/cpu.cfs_quota_us").read_text() == "50000"
    assert (root / "cpu/job/voidrunner/run-1/cpu.cfs_period_us").read_text() == "100000"
    assert str(memory / "cgroup.procs") in group.procs_files
    assert len(group.procs_files) == 4

    (memory / "memory.max_usage_in_bytes").write_text("12345\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (root / "cpuacct/job/voidrunner/run-1/cpuacct.usage").write_text("987654321\n")
    stats = group.stats()
    assert (stats.peak_memory_bytes, stats.cpu_time_ns, stats.oom_killed) == (
        12345,
        987654321,
        True,
    )

    (root / "pids/job/voidrunner/run-1/cgroup.procs").write_text("")
    await group.kill_all()
    await group.remove()
    assert not memory.exists()
    assert (root / "memory/job/voidrunner").is_dir()  # the shared parent stays


def test_prepare_creates_the_parents_before_any_run(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    v1 = CgroupDriver.detect(root=root, self_cgroup=self_cgroup)
    assert v1 is not None
    v1.prepare()
    assert all(parent.is_dir() for parent in v1.parents.values())
    own = tmp_path / "v2" / "svc"
    own.mkdir(parents=True)
    v2 = CgroupDriver(CgroupVersion.V2, {"": own / "voidrunner"})
    v2.prepare()
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / "voidrunner" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    (own / "voidrunner").rename(own / "elsewhere")
    (own / "voidrunner").write_text("")  # a file where the parent group should be
    again = CgroupDriver(CgroupVersion.V2, {"": own / "voidrunner"})
    with pytest.raises(SandboxError, match="cannot set up the runs' cgroups"):
        again.prepare()


def test_v1_without_memory_controller_is_not_usable(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    shutil.rmtree(root / "memory")
    assert CgroupDriver.detect(root=root, self_cgroup=self_cgroup) is None


def test_v2_detection_uses_the_unified_path(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (root / "system.slice" / "executor.service").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    self_cgroup = tmp_path / "self_cgroup"
    self_cgroup.write_text("0::/system.slice/executor.service\n")
    driver = CgroupDriver.detect(root=root, self_cgroup=self_cgroup, rmdir=shutil.rmtree)
    assert driver is not None
    assert driver.version is CgroupVersion.V2
    assert driver.parents[""] == root / "system.slice/executor.service/voidrunner"


async def test_v2_group_delegates_and_writes_v2_files(tmp_path: Path) -> None:
    own = tmp_path / "cgroup" / "svc"
    own.mkdir(parents=True)
    driver = CgroupDriver(CgroupVersion.V2, {"": own / "voidrunner"}, rmdir=shutil.rmtree)
    group = driver.create("run-2", LIMITS)
    run = own / "voidrunner" / "run-2"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / "voidrunner" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (run / "memory.max").read_text() == str(64 * 1024 * 1024)
    assert (run / "memory.swap.max").read_text() == "0"
    assert (run / "pids.max").read_text() == "32"
    assert (run / "cpu.max").read_text() == "50000 100000"
    assert group.procs_files == [str(run / "cgroup.procs")]

    (run / "memory.peak").write_text("777\n")
    (run / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (run / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    stats = group.stats()
    assert (stats.peak_memory_bytes, stats.cpu_time_ns, stats.oom_killed) == (777, 1_500_000, False)

    (run / "cgroup.procs").write_text("")
    (run / "cgroup.kill").write_text("")
    await group.kill_all()
    assert (run / "cgroup.kill").read_text() == "1"
    await group.remove()
    assert not run.exists()


def test_create_failure_cleans_up_and_is_retryable(tmp_path: Path) -> None:
    parent = tmp_path / "cgroup" / "memory" / "voidrunner"
    driver = CgroupDriver(
        CgroupVersion.V1,
        {"memory": parent, "pids": tmp_path / "no" / "such" / "dir"},
        rmdir=shutil.rmtree,
    )
    with pytest.raises(SandboxError) as caught:
        driver.create("run-3", LIMITS)
    assert caught.value.retryable
    assert not (parent / "run-3").exists()


@pytest.mark.parametrize("name", ["", "..", "a/b"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    driver = CgroupDriver(CgroupVersion.V2, {"": tmp_path}, rmdir=shutil.rmtree)
    with pytest.raises(ValueError, match="bad cgroup name"):
        driver.create(name, LIMITS)


def test_reap_stale_removes_only_old_empty_run_groups(tmp_path: Path) -> None:
    parent = tmp_path / "memory" / "voidrunner"
    old_empty, old_busy, fresh, other = (parent / n for n in ("run-a", "run-b", "run-c", "keep"))
    for d in (old_empty, old_busy, fresh, other):
        d.mkdir(parents=True)
        (d / "cgroup.procs").write_text("")
    (old_busy / "cgroup.procs").write_text("4242\n")
    long_ago = time.time() - 3600
    for d in (old_empty, old_busy, other):
        os.utime(d, (long_ago, long_ago))

    def rmdir(path: Path) -> None:  # a cgroupfs directory goes with its files
        for f in path.iterdir():
            f.unlink()
        path.rmdir()

    driver = CgroupDriver(CgroupVersion.V1, {"memory": parent}, rmdir=rmdir)
    assert driver.reap_stale(60) == [old_empty]
    assert sorted(p.name for p in parent.iterdir()) == ["keep", "run-b", "run-c"]


def test_warm_up_moves_this_process_into_its_own_group(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    driver = CgroupDriver.detect(root=root, self_cgroup=self_cgroup)
    assert driver is not None
    driver.warm_up()
    # The executor's own pids group (the parent of the runs' parent), not a run's.
    assert (root / "pids" / "job" / "cgroup.procs").read_text() == str(os.getpid())


def test_warm_up_that_fails_turns_itself_off(tmp_path: Path) -> None:
    driver = CgroupDriver(CgroupVersion.V2, {"": tmp_path / "gone" / "voidrunner"})
    driver.warm_up()  # no such group: no error
    (tmp_path / "gone").mkdir()
    driver.warm_up()  # off now: nothing written
    assert not (tmp_path / "gone" / "cgroup.procs").exists()


def test_join_writes_each_pid_into_every_hierarchy(tmp_path: Path) -> None:
    root, self_cgroup = _v1_root(tmp_path)
    driver = CgroupDriver.detect(root=root, self_cgroup=self_cgroup, rmdir=shutil.rmtree)
    assert driver is not None
    group = driver.create("run-1", LIMITS)
    for path in group.procs_files:  # the kernel provides these files; the fake needs them made
        Path(path).touch()
    group.join([41, 42])
    # A real cgroup.procs takes one pid per write; the fake file keeps both writes.
    for path in group.procs_files:
        assert Path(path).read_text() == "4142"
