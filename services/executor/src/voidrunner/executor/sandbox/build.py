"""What a run needs before its program starts, the same for every backend: its files in the work
dir, the command placeholders, and for compiled runtimes the build and the artifact it left.

    prepared = await sandbox.prepare(request)         # compiles once, if the runtime does
    if prepared.failed: ...                           # a compile_error (or cancel) result
    result = await sandbox.execute(prepared, stdin=b"", args=())   # as often as there are cases

The artifact comes out of a sandbox the user controlled, so it crosses to the run sandbox by
content only: the compile step hands it over as a tar stream on a pipe, `unpack_artifact` keeps
regular files and directories (no links, no devices, no path leaving the artifact), bounded in
size and count, and the run sandbox gets each file read-only under /sandbox.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from voidrunner.contracts.files import path_problem
from voidrunner.contracts.runtimes import Limits, Paths, RuntimeSpec
from voidrunner.executor.sandbox.types import (
    RunRequest,
    RunResult,
    SandboxError,
    SourceFile,
    TerminationReason,
)

__all__ = [
    "ARTIFACT_ROOT",
    "ArtifactFile",
    "Prepared",
    "compile_failure",
    "unpack_artifact",
    "work_files",
]

# Where the run step finds the compile step's artifact (read-only).
ARTIFACT_ROOT = "/sandbox"
MAX_ARTIFACT_FILES = 10_000
# A compile step that breaks one of these limits failed because of the program it builds.
_BUILD_FAULTS = frozenset(
    {
        TerminationReason.EXIT,
        TerminationReason.TIMEOUT,
        TerminationReason.MEMORY_LIMIT,
        TerminationReason.OUTPUT_LIMIT,
        TerminationReason.PIDS_LIMIT,
        TerminationReason.SECURITY_VIOLATION,
    }
)


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One file of a build's artifact, relative to ARTIFACT_ROOT."""

    path: str
    data: bytes
    executable: bool


@dataclass(slots=True)
class Prepared:
    """A run ready to start: everything `Sandbox.execute` needs, built once per execution."""

    request: RunRequest
    spec: RuntimeSpec
    limits: Limits
    env: dict[str, str]
    files: tuple[SourceFile, ...]
    paths: Paths
    artifact: tuple[ArtifactFile, ...] = ()
    compile_output: bytes = b""
    compile_time_ms: int | None = None
    # Set when there is nothing to execute: the build failed (compile_error) or was cancelled.
    failed: RunResult | None = None
    # The backend's own per-run state (e.g. the files as sealed memfds).
    extra: dict[str, object] = field(default_factory=dict)

    def finish(self, result: RunResult) -> RunResult:
        """A run's result with its build's figures."""
        return replace(
            result, compile_output=self.compile_output, compile_time_ms=self.compile_time_ms
        )


def work_files(request: RunRequest, spec: RuntimeSpec) -> tuple[tuple[SourceFile, ...], str]:
    """The files of a run (the one-file form becomes the runtime's source file) and its entry.

    Raises SandboxError for a path the work dir cannot hold (checked again here: the executor
    never trusts that the tasks service did).
    """
    files = request.files
    if not files:
        try:
            files = (SourceFile(spec.source_file, request.source.encode("utf-8")),)
        except UnicodeEncodeError as exc:
            raise SandboxError(f"source is not valid UTF-8 text: {exc}") from exc
    seen = set()
    for item in files:
        problem = path_problem(item.path)
        if problem or item.path in seen:
            raise SandboxError(f"invalid file path {item.path[:100]!r}: {problem or 'duplicate'}")
        seen.add(item.path)
    entry = request.entrypoint or files[0].path
    if entry not in seen:
        raise SandboxError(f"entrypoint {entry[:100]!r} is not one of the files")
    return files, entry


def paths_for(
    spec: RuntimeSpec, files: tuple[SourceFile, ...], entry: str, workdir: str, artifact: str
) -> Paths:
    """The placeholders of a run: its entry, its language's source files, its artifact."""
    sources = tuple(f.path for f in files if spec.is_source(f.path)) or (entry,)
    return Paths(workdir=workdir, entrypoint=entry, sources=sources, artifact=artifact)


def compile_failure(
    reason: TerminationReason,
    return_code: int | None,
    signal: str | None,
    detail: str,
    limits: Limits,
) -> tuple[TerminationReason, str]:
    """How a failed compile step is reported: compile_error when the program is at fault."""
    if reason not in _BUILD_FAULTS:  # cancelled, or the sandbox itself failed
        return reason, detail
    if reason is TerminationReason.TIMEOUT:
        return TerminationReason.COMPILE_ERROR, (
            f"compile step timed out after {limits.timeout_seconds:g} s"
        )
    if reason is TerminationReason.EXIT:
        ended = f"signal {signal}" if signal else f"status {return_code}"
        return TerminationReason.COMPILE_ERROR, f"compile step failed ({ended})"
    return TerminationReason.COMPILE_ERROR, f"compile step failed: {detail or reason.value}"


def failed_build(reason: TerminationReason, detail: str, output: bytes, time_ms: int) -> RunResult:
    """The result of an execution whose build failed: nothing ran."""
    return RunResult(
        termination_reason=reason,
        return_code=None,
        stdout=b"",
        stderr=b"",
        stdout_truncated=False,
        stderr_truncated=False,
        execution_time_ms=0,
        cpu_time_ms=0,
        memory_usage_bytes=0,
        termination_detail=detail,
        compile_output=output,
        compile_time_ms=time_ms,
    )


def unpack_artifact(data: bytes, *, max_bytes: int) -> tuple[ArtifactFile, ...]:
    """The files of a tar stream a compile step wrote, by content only (see the module doc).

    Raises SandboxError for anything but regular files and directories, a path that leaves the
    artifact, or more than `max_bytes` / MAX_ARTIFACT_FILES.
    """
    files: list[ArtifactFile] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise SandboxError(f"build artifact holds a non-regular file {name[:100]!r}")
                if path_problem(name) or PurePosixPath(name).is_absolute():
                    raise SandboxError(f"build artifact holds a bad path {name[:100]!r}")
                total += member.size
                if total > max_bytes or len(files) >= MAX_ARTIFACT_FILES:
                    raise SandboxError(f"build artifact larger than {max_bytes} bytes")
                extracted = archive.extractfile(member)
                content = extracted.read() if extracted is not None else b""
                files.append(ArtifactFile(name, content, bool(member.mode & 0o111)))
    except (tarfile.TarError, EOFError) as exc:
        raise SandboxError(f"build artifact is not a readable archive: {exc}") from exc
    if not files:
        raise SandboxError("the compile step left no artifact")
    return tuple(files)
