"""The docker backend's pure logic: the container it asks for, and what a finished one means."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voidrunner.executor.sandbox.docker_config import (
    GVISOR_MIN_PIDS,
    container_config,
    environment,
    interpret,
    pool_key,
)
from voidrunner.executor.sandbox.docker_launcher import LAUNCHER_ARGV, Trailer
from voidrunner.executor.sandbox.types import Limits, SandboxError, TerminationReason

MiB = 1024 * 1024
LIMITS = Limits(memory_bytes=128 * MiB, cpu=0.5, pids=32, tmp_bytes=16 * MiB, max_open_files=64)
EXIT, TIMEOUT = TerminationReason.EXIT, TerminationReason.TIMEOUT


def host_config(runtime: str = "runc", limits: Limits = LIMITS) -> dict[str, Any]:
    config = container_config("img:1", limits, oci_runtime=runtime, labels={"a": "b"})
    host: dict[str, Any] = config["HostConfig"]
    return host


def test_isolation_settings_are_always_present() -> None:
    config = container_config("img:1", LIMITS, oci_runtime="runc", labels={"owner": "me"})
    host = config["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert config["NetworkDisabled"] is True
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert config["User"] == "65534:65534"
    assert host["Runtime"] == "runc"
    assert host["LogConfig"]["Type"] == "none"
    assert config["Labels"] == {"owner": "me"}
    assert config["Entrypoint"] == list(LAUNCHER_ARGV)
    assert (config["OpenStdin"], config["StdinOnce"], config["Tty"]) == (True, True, False)


def test_limits_map_to_engine_fields() -> None:
    host = host_config()
    assert host["Memory"] == host["MemorySwap"] == 128 * MiB
    assert host["PidsLimit"] == 32
    assert host["NanoCpus"] == 500_000_000
    assert host["Tmpfs"]["/tmp"] == "rw,nosuid,nodev,exec,size=16777216,mode=1777"
    assert "size=16777216" in host["Tmpfs"]["/sandbox"]
    assert host["ShmSize"] == 16 * MiB
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {"nofile": (64, 64), "fsize": (16 * MiB, 16 * MiB), "core": (0, 0)}


def test_gvisor_gets_room_for_its_own_threads_and_a_thread_friendly_seccomp_profile() -> None:
    host = host_config("runsc")
    assert host["Runtime"] == "runsc"
    assert host["PidsLimit"] == GVISOR_MIN_PIDS
    seccomp = [o for o in host["SecurityOpt"] if o.startswith("seccomp=")]
    profile = json.loads(seccomp[0].removeprefix("seccomp="))
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = {name for rule in profile["syscalls"] if "args" not in rule for name in rule["names"]}
    assert {"unshare", "mount", "setns", "ptrace", "bpf", "keyctl"} <= denied
    assert "clone3" not in denied  # gVisor answers ENOSYS itself; EPERM would break threads
    assert "seccomp=" not in " ".join(host_config("runc")["SecurityOpt"])


def test_pool_key_ignores_limits_the_engine_does_not_enforce() -> None:
    a = pool_key("img", LIMITS)
    assert a == pool_key("img", Limits(**{**_fields(LIMITS), "timeout_seconds": 99.0}))
    assert a == pool_key("img", Limits(**{**_fields(LIMITS), "max_output_bytes": 1}))
    assert a != pool_key("img", Limits(**{**_fields(LIMITS), "memory_bytes": MiB}))
    assert a != pool_key("other", LIMITS)


def _fields(limits: Limits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in Limits.__slots__}


def test_environment_layers_and_validation() -> None:
    env = environment({"GOCACHE": "/tmp/c"}, {"GREETING": "hi", "HOME": "/elsewhere"})
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert (env["GOCACHE"], env["GREETING"], env["HOME"]) == ("/tmp/c", "hi", "/elsewhere")
    with pytest.raises(SandboxError, match="invalid environment"):
        environment({}, {"BAD=NAME": "x"})
    with pytest.raises(SandboxError, match="invalid environment"):
        environment({}, {"OK": "nul\0byte"})
    with pytest.raises(SandboxError, match="larger"):
        environment({}, {"BIG": "x" * 70_000})


def trailer(code: int | None = 0, signal: int | None = None, refused: int = 0) -> Trailer:
    return Trailer(code, signal, 250_000_000, 40 * MiB, b"", 0, refused)


def outcome(stop: TerminationReason, state: dict[str, Any], t: Trailer | None, **kw: Any) -> Any:
    options: dict[str, Any] = {"oci_runtime": "runc", "limits": LIMITS, "had_output": False}
    options.update(kw)
    return interpret(stop, state, t, **options)


def test_a_normal_exit_reports_code_and_launcher_statistics() -> None:
    result = outcome(EXIT, {"ExitCode": 3, "OOMKilled": False}, trailer(3))
    assert (result.reason, result.return_code) == (EXIT, 3)
    assert (result.cpu_time_ns, result.peak_memory_bytes) == (250_000_000, 40 * MiB)


def test_death_by_signal_reports_the_signal_not_128_plus_it() -> None:
    result = outcome(EXIT, {"ExitCode": 139}, trailer(None, 11))
    assert (result.reason, result.return_code, result.signal) == (EXIT, None, "SIGSEGV")
    # A program that exits 139 by itself is told apart by the launcher.
    own = outcome(EXIT, {"ExitCode": 139}, trailer(139))
    assert (own.reason, own.return_code, own.signal) == (EXIT, 139, None)


def test_seccomp_kill_is_a_security_violation() -> None:
    result = outcome(EXIT, {"ExitCode": 159}, trailer(None, 31))
    assert (result.reason, result.return_code, result.signal) == (
        TerminationReason.SECURITY_VIOLATION,
        None,
        "SIGSYS",
    )


def test_a_refused_fork_is_a_pids_limit() -> None:
    result = outcome(EXIT, {"ExitCode": 0}, trailer(0, refused=3))
    assert (result.reason, result.return_code) == (TerminationReason.PIDS_LIMIT, 0)


def test_our_stop_reason_wins_and_has_no_exit_code() -> None:
    for stop in (TIMEOUT, TerminationReason.CANCELLED, TerminationReason.OUTPUT_LIMIT):
        result = outcome(stop, {"ExitCode": 137, "OOMKilled": False}, trailer(None, 9))
        assert (result.reason, result.return_code, result.signal) == (stop, None, "SIGKILL")
        assert result.cpu_time_ns == 250_000_000  # the launcher still reported


def test_oom_kill_is_a_memory_limit() -> None:
    runc = outcome(EXIT, {"ExitCode": 137, "OOMKilled": True}, trailer(None, 9))
    assert (runc.reason, runc.return_code, runc.peak_memory_bytes) == (
        TerminationReason.MEMORY_LIMIT,
        None,
        40 * MiB,
    )
    # gVisor dies as a whole: no trailer, and the peak is the limit it hit.
    gvisor = outcome(EXIT, {"ExitCode": 137, "OOMKilled": True}, None, oci_runtime="runsc")
    assert (gvisor.reason, gvisor.peak_memory_bytes) == (TerminationReason.MEMORY_LIMIT, 128 * MiB)
    # A program that caught MemoryError and exited by itself keeps its exit code.
    caught = outcome(EXIT, {"ExitCode": 1, "OOMKilled": True}, trailer(1))
    assert (caught.reason, caught.return_code) == (TerminationReason.MEMORY_LIMIT, 1)


def test_gvisor_crash_exit_2_without_output_is_a_sandbox_error() -> None:
    crash = outcome(EXIT, {"ExitCode": 2}, None, oci_runtime="runsc")
    assert crash.reason is TerminationReason.SANDBOX_ERROR
    assert "gVisor" in crash.detail
    # With a trailer, exit 2 is the program's own exit code.
    assert outcome(EXIT, {"ExitCode": 2}, trailer(2), oci_runtime="runsc").return_code == 2


def test_missing_report_or_engine_error_is_a_sandbox_error() -> None:
    silent = outcome(EXIT, {"ExitCode": 0}, None, had_output=True)
    assert silent.reason is TerminationReason.SANDBOX_ERROR
    assert "without a report" in silent.detail
    engine = outcome(EXIT, {"ExitCode": 128, "Error": "oci runtime error"}, None)
    assert engine.reason is TerminationReason.SANDBOX_ERROR
    assert "oci runtime error" in engine.detail
