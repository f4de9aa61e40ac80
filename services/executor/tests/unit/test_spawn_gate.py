"""The gate bwrap blocks on (--block-fd): it opens only when told, never by our ends closing."""

from __future__ import annotations

import asyncio
import os

import pytest

from voidrunner.executor.sandbox._spawn import Gate, StatusReader


def test_gate_never_reads_end_of_file_when_our_ends_close() -> None:
    gate = Gate()
    assert gate.fd is not None
    bwraps_copy = os.dup(gate.fd)  # what bwrap inherits
    try:
        gate.close()  # the executor died: all of our ends are gone
        os.set_blocking(bwraps_copy, False)
        # A plain pipe would read b"" (end-of-file) here and bwrap would run the command.
        with pytest.raises(BlockingIOError):
            os.read(bwraps_copy, 1)
    finally:
        os.close(bwraps_copy)


def test_gate_opens_with_one_byte() -> None:
    gate = Gate()
    assert gate.fd is not None
    bwraps_copy = os.dup(gate.fd)
    try:
        gate.handed_over()
        gate.open()
        assert os.read(bwraps_copy, 1) == b"1"
    finally:
        gate.close()
        os.close(bwraps_copy)


async def test_status_reader_tells_the_child_pid_before_the_end() -> None:
    r, w = os.pipe()
    reader = StatusReader(r, 2**16)
    task = asyncio.create_task(reader.read())
    os.write(w, b'{ "child-pid": 4242 }\n')
    assert await asyncio.wait_for(reader.child_pid, 5) == 4242
    os.write(w, b'{ "exit-code": 0 }\n')
    os.close(w)
    assert (await task or b"").count(b"\n") == 2


async def test_status_reader_without_a_child_pid_says_none() -> None:
    r, w = os.pipe()
    reader = StatusReader(r, 2**16)
    os.write(w, b"bwrap: Creating new namespace failed\n")
    os.close(w)
    await reader.read()
    assert reader.child_pid.result() is None
