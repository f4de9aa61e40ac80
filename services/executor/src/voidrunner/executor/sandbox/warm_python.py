"""The program a warm python sandbox starts with (bwrap backend; see bwrap_warm.py).

Runs inside the sandbox as `python3 -E -s -S -u -c <this file> FD`, started ahead of demand: the
interpreter is up and waits on FD for the one run it will ever serve. The executor writes the run
(marshal: files, environment, argv, rlimits, stdin) and closes FD; this writes the files into the
work dir, lowers the rlimits, installs stdin, the environment and sys.argv, closes FD and runs the
entry file as `__main__`, the way `python3 file.py` would (its directory first on sys.path, a
syntax error or uncaught exception printed without a frame of this loader, exit status 1).
End-of-file without a run (the pool closed, the executor died) ends it with status 125.

Only what the interpreter has loaded at start-up anyway is used (marshal, os, sys), plus
`resource`: the program finds the interpreter as a cold start leaves it.
"""

import marshal
import os
import resource
import sys


def _receive(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _install(message: bytes) -> str:
    # From the executor, which started this sandbox: never from the program it runs.
    files, env, argv, rlimits, stdin = marshal.loads(message)  # noqa: S302
    for name, value in rlimits:
        limit = getattr(resource, "RLIMIT_" + name)
        resource.setrlimit(limit, (value, value))
    for path, data, mode in files:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "wb") as out:
            out.write(data)
        os.chmod(path, mode)
    if stdin:
        # As a cold start gets it: a sealed, read-only memfd.
        fd = os.memfd_create("voidrunner-stdin", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        view = memoryview(stdin)
        while view:
            view = view[os.write(fd, view) :]
        # Only when there is stdin: a cold start has no fcntl loaded.
        import fcntl

        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
        os.dup2(reader, 0)
        os.close(reader)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv[:] = argv
    sys.path[0] = os.path.dirname(argv[0])
    return str(argv[0])


def _main() -> None:
    # A process's first compile sets up the parser (about 2 ms here): paid ahead, not by the run.
    compile(b"pass", "<warm-up>", "exec")
    message = _receive(int(sys.argv[1]))
    if not message:
        os._exit(125)
    source = _install(message)
    del message
    main = type(sys)("__main__")
    loader = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", source)
    main.__dict__.update(
        __file__=source, __cached__=None, __loader__=loader, __builtins__=sys.modules["builtins"]
    )
    sys.modules["__main__"] = main
    try:
        with open(source, "rb") as file:
            code = compile(file.read(), source, "exec")
    except (SyntaxError, ValueError) as exc:
        sys.excepthook(type(exc), exc.with_traceback(None), None)
        raise SystemExit(1) from None
    try:
        exec(code, main.__dict__)  # noqa: S102 - the run's own program, inside its sandbox
    except SystemExit:
        raise
    except BaseException as exc:  # printed as the interpreter would, then exit status 1
        trace = exc.__traceback__
        trace = trace.tb_next if trace is not None else None
        sys.excepthook(type(exc), exc.with_traceback(trace), trace)
        raise SystemExit(1) from None


if __name__ == "__main__":
    _main()
