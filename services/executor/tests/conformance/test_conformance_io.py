"""Conformance: what goes in and what comes out (streams, exit code, stdin, env, bytes)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from sandbox_testing.conformance import Backend, run
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.executor.sandbox.types import (
    OutputChunk,
    RuntimeUnavailable,
    Sandbox,
    StreamName,
    TerminationReason,
)

pytestmark = pytest.mark.sandbox

HELLO = {
    "python": 'print("hello from python")',
    "javascript": 'console.log("hello from javascript")',
    "bash": 'echo "hello from bash"',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello from go") }\n',
    "pypy": 'print("hello from pypy")',
    "c": '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello from cpp" << std::endl; }\n',
    "ruby": 'puts "hello from ruby"',
    "rust": 'fn main() { println!("hello from rust"); }\n',
    "java": "public class Main {\n  public static void main(String[] args) {\n"
    '    System.out.println("hello from java");\n  }\n}\n',
    "typescript": 'const who: string = "typescript";\nconsole.log(`hello from ${who}`);\n',
}


def require_runtime(sandbox: Sandbox, runtime: str) -> None:
    info = {i.name: i for i in sandbox.runtimes()}.get(runtime)
    if info is None:
        pytest.skip(f"runtime {runtime} not offered by {sandbox.name}")
    if not info.available:
        pytest.skip(f"runtime {runtime} unavailable on {sandbox.name}: {info.reason}")


@pytest.mark.parametrize("runtime", sorted(HELLO))
async def test_hello_world_in_every_runtime(sandbox: Sandbox, runtime: str) -> None:
    require_runtime(sandbox, runtime)
    result = await run(sandbox, HELLO[runtime], runtime=runtime)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert result.return_code == 0
    assert result.stdout == f"hello from {runtime}\n".encode()
    assert result.stderr == b""
    assert result.execution_time_ms > 0


async def test_stdout_stderr_and_exit_code(sandbox: Sandbox) -> None:
    src = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(7)"
    result = await run(sandbox, src)
    assert result.termination_reason is TerminationReason.EXIT
    assert (result.return_code, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    assert not result.stdout_truncated
    assert not result.stderr_truncated


async def test_bash_exit_code_and_killed_by_signal(sandbox: Sandbox) -> None:
    require_runtime(sandbox, "bash")
    assert (await run(sandbox, "exit 42", runtime="bash")).return_code == 42
    killed = await run(sandbox, "kill -SEGV $$", runtime="bash")
    assert killed.termination_reason is TerminationReason.EXIT
    # Killed by a signal: the signal, not 128 + 11 (which a program can also exit with).
    assert (killed.return_code, killed.exit_signal) == (None, "SIGSEGV")
    own = await run(sandbox, "exit 139", runtime="bash")
    assert (own.return_code, own.exit_signal) == (139, None)


async def test_stdin_is_delivered_whole(sandbox: Sandbox) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    src = (
        "import sys, hashlib\nd = sys.stdin.buffer.read()\n"
        "print(len(d), hashlib.sha256(d).hexdigest())"
    )
    result = await run(sandbox, src, stdin=data)

    assert result.stdout.decode().split() == [str(len(data)), hashlib.sha256(data).hexdigest()]


async def test_env_is_passed_and_host_env_is_not(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOIDRUNNER_HOST_CANARY", "leaked")
    src = "import os\nprint(os.environ.get('GREETING'), 'VOIDRUNNER_HOST_CANARY' in os.environ)"
    result = await run(sandbox, src, env={"GREETING": "hi there"})
    assert result.stdout == b"hi there False\n"


async def test_unicode_and_binary_output(sandbox: Sandbox) -> None:
    src = (
        "import sys\nsys.stdout.write('h\\u00e9llo \\u2713 \\U0001f680\\n')\nsys.stdout.flush()\n"
        "sys.stdout.buffer.write(bytes(range(256)))\nsys.stderr.buffer.write(b'\\xff\\x00\\xfe')"
    )
    result = await run(sandbox, src)
    assert result.stdout == "héllo ✓ 🚀\n".encode() + bytes(range(256))
    assert result.stderr == b"\xff\x00\xfe"


async def test_output_streams_in_production_order_while_running(sandbox: Sandbox) -> None:
    chunks: list[tuple[StreamName, bytes, float]] = []

    async def on_output(chunk: OutputChunk) -> None:
        chunks.append((chunk.stream, chunk.data, time.monotonic()))

    src = (
        "import sys, time\n"
        "print('one')\ntime.sleep(0.2)\n"
        "print('two', file=sys.stderr)\ntime.sleep(0.2)\n"
        "print('three')\ntime.sleep(0.6)\n"
    )
    result = await run(sandbox, src, on_output=on_output)
    finished = time.monotonic()
    assert result.stdout == b"one\nthree\n"
    merged: list[tuple[StreamName, bytes]] = []
    for stream, data, _ in chunks:
        if merged and merged[-1][0] is stream:
            merged[-1] = (stream, merged[-1][1] + data)
        else:
            merged.append((stream, data))
    assert merged == [
        (StreamName.STDOUT, b"one\n"),
        (StreamName.STDERR, b"two\n"),
        (StreamName.STDOUT, b"three\n"),
    ]
    assert finished - chunks[0][2] > 0.5, "the first chunk must arrive while the code still runs"


async def test_unknown_runtime_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeUnavailable, match="cobol"):
        await run(sandbox, "IDENTIFICATION DIVISION.", runtime="cobol")


async def test_missing_toolchain_is_reported_and_refused(backend: Backend) -> None:
    catalog = load_catalog()
    bash = catalog.get("bash")
    ghost = type(bash)(
        name="ghost",
        language="ghost",
        version="1",
        version_command=("voidrunner-no-such-tool", "--version"),
        source_file="main.ghost",
        run=("voidrunner-no-such-tool", "{source}"),
        host_binaries=("voidrunner-no-such-tool",),
        image="voidrunner/sandbox-ghost-does-not-exist:latest",
        default_limits=bash.default_limits,
        packages=("ghost-toolchain",),
    )
    sandbox = backend.make(catalog.with_runtime(ghost))
    try:
        info = {i.name: i for i in sandbox.runtimes()}["ghost"]
        assert not info.available
        assert info.reason
        # bwrap names what to install (docker names the missing image)
        if backend.name.startswith("bwrap"):
            assert "ghost-toolchain" in info.reason
            assert "make runtimes" in info.reason
        with pytest.raises(RuntimeUnavailable, match="ghost"):
            await run(sandbox, "boo", runtime="ghost")
    finally:
        await sandbox.close()


# A program of each compiled language that does not build, and what its compiler says.
BROKEN = {
    "go": ("package main\nfunc main() { undefinedThing() }\n", b"undefined"),
    "c": ("int main(void) { return undefinedThing(); }\n", b"undefinedThing"),
    "cpp": ("int main() { return undefinedThing(); }\n", b"undefinedThing"),
    "rust": ("fn main() { undefined_thing(); }\n", b"undefined_thing"),
    "java": ("public class Main { void f() { undefinedThing(); } }\n", b"undefinedThing"),
    "typescript": ("const n: number = 'text';\n", b"TS2322"),
}


@pytest.mark.parametrize("runtime", sorted(BROKEN))
async def test_compile_error_is_reported_apart_from_the_run(sandbox: Sandbox, runtime: str) -> None:
    require_runtime(sandbox, runtime)
    source, message = BROKEN[runtime]
    result = await run(sandbox, source, runtime=runtime)
    assert result.termination_reason is TerminationReason.COMPILE_ERROR, result
    assert result.return_code is None
    assert message in result.compile_output
    assert (result.stdout, result.stderr) == (b"", b"")
    assert result.compile_time_ms is not None
    assert result.compile_time_ms > 0
    assert "compile step failed" in result.termination_detail


async def test_the_compile_step_does_not_eat_the_run_timeout(sandbox: Sandbox) -> None:
    require_runtime(sandbox, "go")
    src = (
        'package main\nimport ("fmt"; "time")\n'
        'func main() { time.Sleep(300 * time.Millisecond); fmt.Println("ran") }\n'
    )
    result = await run(sandbox, src, runtime="go", timeout_seconds=1)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert result.stdout == b"ran\n"
    assert result.compile_output == b""
    # The run's own time: the build (seconds for go) is reported apart.
    assert 300 <= result.execution_time_ms < 1000, result
    assert result.compile_time_ms is not None
    assert result.compile_time_ms > 0


async def test_concurrent_runs_do_not_interfere(sandbox: Sandbox) -> None:
    results = await asyncio.gather(*(run(sandbox, f"print({i} * 2)") for i in range(4)))
    assert [r.stdout for r in results] == [f"{i * 2}\n".encode() for i in range(4)]


JVM_HEAP = """public class Main { public static void main(String[] args) {
  System.out.println(Runtime.getRuntime().maxMemory() / 1048576);
  byte[][] keep = new byte[64][];
  for (int i = 0; i < 1000; i++) keep[i % 32] = new byte[1 << 20];  // 1 GB of garbage
  try { for (int i = 0; i < 64; i++) keep[i] = new byte[4 << 20]; }
  catch (OutOfMemoryError e) { System.out.println("OutOfMemoryError"); }
} }
"""


async def test_the_jvm_heap_follows_the_runs_memory_limit(sandbox: Sandbox) -> None:
    """The JVM cannot see the sandbox's cgroup: told the limit, it collects garbage before it
    and throws OutOfMemoryError at it, instead of being killed at the limit."""
    require_runtime(sandbox, "java")
    result = await run(sandbox, JVM_HEAP, runtime="java", memory_bytes=200 * 1024 * 1024)
    assert result.termination_reason is TerminationReason.EXIT, result
    heap_mb, verdict = result.stdout.decode().split()
    assert 50 <= int(heap_mb) <= 100, result.stdout
    assert verdict == "OutOfMemoryError"


JVM_CPUS = """public class Main { public static void main(String[] args) {
  System.out.println(Runtime.getRuntime().availableProcessors());
} }
"""


@pytest.mark.parametrize(("cpu", "seen"), [(0.5, 1), (1.0, 1)])
async def test_the_jvm_sees_the_runs_cpu_limit(sandbox: Sandbox, cpu: float, seen: int) -> None:
    """The JVM sizes its GC and JIT thread pools by the CPUs it sees (every host CPU, where it
    cannot read the sandbox's quota), and each thread counts against the pids limit: it is told
    the run's CPU limit, rounded up."""
    require_runtime(sandbox, "java")
    result = await run(sandbox, JVM_CPUS, runtime="java", cpu=cpu)
    assert result.termination_reason is TerminationReason.EXIT, result
    assert result.stdout == f"{seen}\n".encode(), result
