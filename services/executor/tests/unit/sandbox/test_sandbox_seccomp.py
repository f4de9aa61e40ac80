"""The seccomp program compiles, and the deny list names what the issue asks for."""

from __future__ import annotations

from voidrunner.executor.sandbox.seccomp import DENIED_SYSCALLS, filter_bpf


def test_filter_compiles_to_bpf_once() -> None:
    program = filter_bpf()
    assert len(program) > 0
    assert len(program) % 8 == 0  # struct sock_filter is 8 bytes
    assert filter_bpf() is program


def test_deny_list_covers_the_dangerous_calls() -> None:
    for name in ("ptrace", "mount", "unshare", "setns", "bpf", "keyctl", "perf_event_open"):
        assert name in DENIED_SYSCALLS
