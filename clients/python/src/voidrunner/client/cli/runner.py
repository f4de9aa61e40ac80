"""`voidrunner run`: local files to a one-shot run, its output streamed live, its exit code ours.

Exit codes, as a shell script expects of the program itself: the program's own status; 124
when it timed out; 128+N when signal N killed it; 1 for a compile error (the compiler's
output on stderr); with test cases 0 when every case was accepted, else 1. Everything that is
not the program's doing (no credentials, a refused key, an unreachable server, bad input) is
125, as `timeout(1)` and `env(1)` use it.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.console import Console

from voidrunner.client import Client, Execution, File, LogEvent, RunSpec, Runtime, TestCase

PLATFORM_ERROR = 125
TIMED_OUT = 124
# Extensions of the languages VoidRunner's bundled runtimes and common operator ones run.
EXTENSIONS = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".sh": "bash",
    ".bash": "bash",
    ".go": "go",
    ".c": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".rs": "rust",
    ".java": "java",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
}


class BadInput(Exception):
    """The command line asks for something that cannot run (a one-line message)."""


@dataclass
class Request:
    """What `voidrunner run` was asked for."""

    files: list[Path]
    lang: str | None = None
    version: str | None = None
    stdin: str | None = None
    timeout: int | None = None
    memory: int | None = None
    args: list[str] = field(default_factory=list)
    tests: list[TestCase] | None = None


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory") from None
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror}") from None


def _work_path(path: Path) -> str:
    # The path inside the run's work dir: as given when it stays below here, else its name.
    if path.is_absolute() or ".." in path.parts:
        return path.name
    return path.as_posix()


def pick_runtime(request: Request, runtimes: list[Runtime]) -> Runtime:
    """The runtime `--lang` names, or the one the entry file's extension means."""
    wanted = request.lang or EXTENSIONS.get(request.files[0].suffix.lower())
    names = ", ".join(sorted(r.name for r in runtimes)) or "none"
    if wanted is None:
        raise BadInput(
            f"cannot tell the language of {request.files[0]}: pass --lang (one of: {names})"
        )
    found = [r for r in runtimes if r.name == wanted] or [
        r for r in runtimes if r.language == wanted
    ]
    if found:
        return next((r for r in found if r.available), found[0])
    raise BadInput(f"no runtime for {wanted} on this server (it has: {names})")


def run_spec(request: Request, runtime: Runtime, stdin: bytes | None) -> RunSpec:
    """The one-shot run a request is: one text file as the script, else files + entrypoint."""
    entry, *others = request.files
    entry_text = _decoded(_read(entry))
    if entry_text is None:
        raise BadInput(f"{entry} is not a text file (the program must be source code)")
    spec = RunSpec(
        script_type=runtime.name,
        version=request.version,
        args=request.args or None,
        timeout_seconds=request.timeout,
        memory_limit_mb=request.memory,
        test_cases=request.tests,
    )
    if others:
        files = [File(path=_work_path(entry), content=entry_text)]
        for path in others:
            data = _read(path)
            text = _decoded(data)
            if text is None:  # a binary input file travels as base64
                files.append(
                    File(
                        path=_work_path(path),
                        content=base64.b64encode(data).decode(),
                        encoding="base64",
                    )
                )
            else:
                files.append(File(path=_work_path(path), content=text))
        spec.files, spec.entrypoint = files, _work_path(entry)
    else:
        spec.script_content = entry_text
    if stdin is not None:
        text = _decoded(stdin)
        if text is None:
            spec.stdin_base64 = base64.b64encode(stdin).decode()
        else:
            spec.stdin = text
    return spec


def read_stdin(source: str | None) -> bytes | None:
    """The program's stdin: a file's bytes, ours (`-`), or none."""
    if source is None:
        return None
    if source == "-":
        return sys.stdin.buffer.read()
    return _read(Path(source))


def signal_number(name: str) -> int:
    """9 for SIGKILL; the number in SIG<n> for one this platform has no name for."""
    try:
        return signal.Signals[name].value
    except KeyError:
        digits = name.removeprefix("SIG")
        return int(digits) if digits.isdigit() else signal.SIGKILL.value


def exit_code(execution: Execution) -> int:
    """The exit status `voidrunner run` ends with (see the module docstring)."""
    if execution.total:
        return 0 if execution.passed == execution.total else 1
    reason = execution.termination_reason
    if reason == "compile_error":
        return 1
    if reason == "timeout" or execution.status == "timeout":
        return TIMED_OUT
    if execution.exit_signal:
        return 128 + signal_number(execution.exit_signal)
    if execution.return_code is not None and reason not in {"sandbox_error", "cancelled"}:
        return execution.return_code & 0xFF
    return PLATFORM_ERROR


_REASONS = {
    "memory_limit": "killed: memory limit exceeded",
    "output_limit": "stopped: output limit exceeded",
    "pids_limit": "killed: process limit exceeded",
    "security_violation": "killed: a forbidden system call",
    "cancelled": "the execution was cancelled",
}


def explain(execution: Execution) -> str | None:
    """A line for stderr when the run did not simply end (None when it did)."""
    reason = execution.termination_reason
    if reason == "timeout":
        limits = execution.limits
        return f"timed out after {limits.timeout_seconds} s" if limits else "timed out"
    if reason == "sandbox_error":
        return f"the sandbox failed: {execution.termination_detail or 'no detail'}"
    if reason in _REASONS:
        return _REASONS[reason]
    return f"killed by {execution.exit_signal}" if execution.exit_signal else None


def _case_line(event: LogEvent) -> str:
    figures = f"{event.extra.get('execution_time_ms', '?')} ms"
    return f"case {event.case}: {event.verdict} ({figures})"


class Streamer:
    """Writes a run's events to our stdout and stderr as they arrive, as raw bytes."""

    def __init__(self, out: BinaryIO, err: BinaryIO) -> None:
        self.out, self.err = out, err
        self.cases: dict[int, str] = {}

    def write(self, event: LogEvent) -> None:
        """One event: a chunk of output (a test case's is not shown), or a case's verdict."""
        if event.event == "case_start" and event.case is not None:
            self.cases[event.case] = event.name or str(event.case)
        elif event.event == "case_end":
            self._line(self.err, _case_line(event))
        elif event.event in {"stdout", "stderr"} and not event.case:
            target = self.out if event.event == "stdout" else self.err
            target.write(event.data)
            target.flush()

    def _line(self, target: BinaryIO, text: str) -> None:
        target.write(f"{text}\n".encode())
        target.flush()


def queued_spinner(console: Console) -> AbstractContextManager[object]:
    """A spinner on stderr while the run waits for an executor (only on a terminal)."""
    if not console.is_terminal:
        return nullcontext()
    return console.status("queued…", spinner="dots")


def follow(client: Client, execution: Execution, streamer: Streamer, console: Console) -> Execution:
    """Stream the run's output until its end event; the execution as it ended."""
    events: Iterator[LogEvent] = client.executions.logs(execution.id)
    with queued_spinner(console):
        first = next(events, None)  # the spinner stops at the first sign of life
    if first is not None:
        streamer.write(first)
        for event in events:
            streamer.write(event)
    return client.executions.get(execution.id)


def finish(execution: Execution, err: BinaryIO) -> int:
    """Report how the run ended on stderr; the exit code."""
    if execution.termination_reason == "compile_error":
        output = execution.compile_output_base64
        data = base64.b64decode(output) if output else (execution.compile_output or "").encode()
        err.write(data if data.endswith(b"\n") or not data else data + b"\n")
    line = explain(execution)
    if line:
        err.write(f"voidrunner: {line}\n".encode())
    if execution.total:
        err.write(f"voidrunner: {execution.passed}/{execution.total} cases accepted\n".encode())
    err.flush()
    return exit_code(execution)


def isatty_stderr() -> bool:
    """True when stderr is a terminal (the spinner's condition)."""
    return os.isatty(sys.stderr.fileno())
