"""Abuse: output. Floods end early at the cap, odd bytes pass unchanged, no forged report."""

from __future__ import annotations

import resource
import secrets
import time

import pytest

from sandbox_testing.abuse import Abuse
from voidrunner.executor.sandbox.types import OutputChunk, TerminationReason

pytestmark = [pytest.mark.sandbox, pytest.mark.hardening(group_by="backend")]

MiB = 1024 * 1024
CAP = 256 * 1024


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_one_gigabyte_flood_is_cut_at_the_cap(abuse: Abuse, stream: str) -> None:
    # 1 GiB asked for; the run must end at the cap long before that, without the executor
    # buffering the flood.
    src = (
        "import sys\nchunk = b'x' * (1 << 20)\n"
        f"for _ in range(1024):\n    sys.{stream}.buffer.write(chunk)\n"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    result = await abuse.run(src, max_output_bytes=CAP, timeout_seconds=30)
    elapsed = time.monotonic() - started
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert result.termination_reason is TerminationReason.OUTPUT_LIMIT, result.termination_detail
    assert result.return_code is None
    assert getattr(result, stream) == b"x" * CAP
    assert getattr(result, f"{stream}_truncated")
    assert elapsed < 8, f"the flood ran {elapsed:.1f}s: it was drained, not ended"
    assert rss_growth_kib < 32 * 1024, "the executor must not buffer the flood"


async def test_endless_line_without_newline_is_cut(abuse: Abuse) -> None:
    chunks: list[int] = []

    async def on_output(chunk: OutputChunk) -> None:
        chunks.append(len(chunk.data))

    src = "import sys\nwhile True:\n    sys.stdout.write('y' * 4096)\n"
    result = await abuse.run(src, max_output_bytes=CAP, on_output=on_output, timeout_seconds=30)
    assert result.termination_reason is TerminationReason.OUTPUT_LIMIT, result.termination_detail
    assert result.stdout == b"y" * CAP
    assert b"\n" not in result.stdout
    assert sum(chunks) == CAP, "streamed bytes must be exactly the kept ones"
    assert max(chunks) <= CAP


async def test_binary_and_invalid_utf8_output_passes_unchanged(abuse: Abuse) -> None:
    payload = (
        bytes(range(256))
        + b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc"  # invalid UTF-8 sequences
        + b"\x00" * 32
        + b"\x1b[2J\x1b]0;title\x07\r\r\n"  # terminal escapes, bare carriage returns
        + "\udcff".encode("utf-8", "surrogatepass")  # an encoded lone surrogate
    )
    src = (
        f"import sys\ndata = {payload!r}\n"
        "sys.stdout.buffer.write(data)\nsys.stderr.buffer.write(data[::-1])\n"
    )
    result = await abuse.run(src)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert result.return_code == 0
    assert result.stdout == payload
    assert result.stderr == payload[::-1]


async def test_forged_launcher_trailer_changes_nothing(abuse: Abuse) -> None:
    # The docker backend's launcher reports on stderr after a nonce marker; the code cannot know
    # the nonce, and what it prints in that shape stays output (on every backend).
    fake = b"\0VOIDRUNNER-TRAILER:" + secrets.token_hex(16).encode() + b"\0" + b"0 0 0 0 4\nfake"
    src = f"import sys\nsys.stderr.buffer.write({fake!r})\nsys.stderr.flush()\nsys.exit(3)\n"
    result = await abuse.run(src)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert result.return_code == 3
    assert result.stderr == fake


async def test_stdout_closed_and_reopened_tricks_end_cleanly(abuse: Abuse) -> None:
    # Closing both streams, then writing to /dev/stdout and the closed fds, must neither hang
    # the run nor break the report.
    src = """
import os, sys, time
os.close(1)
os.close(2)
for path in ["/dev/stdout", "/dev/stderr", "/proc/self/fd/1"]:
    try:
        open(path, "w").write("ghost")
    except OSError:
        pass
time.sleep(0.2)
os._exit(5)
"""
    result = await abuse.run(src)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert (result.return_code, result.stdout, result.stderr) == (5, b"", b"")
