"""The warm python loader runs a program as `python3 file.py` would (outside any sandbox: this
checks the loader's semantics; the conformance suite checks it inside bwrap).

Each program runs twice, cold (`python3 -E -s -S -u main.py args`) and through the loader
(`python3 -E -s -S -u -c <loader> FD`, the run arriving on FD); exit status, stdout and stderr
must match byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from voidrunner.executor.sandbox.bwrap_warm import LOADERS, warm_message

PYTHON = ["/usr/bin/python3", "-E", "-s", "-S", "-u"]
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "GREETING": "hej"}

PROGRAMS = {
    "identity": (
        "import os, sys\n"
        "print(sys.argv, __name__, __file__, sys.path[0], __spec__, __cached__)\n"
        "print(os.environ['GREETING'], sorted(os.environ))\n"
        "print(input(), sys.stdin.read())\n"
        "import __main__; print(__main__.__dict__ is globals(), type(__loader__).__name__)\n"
    ),
    "syntax-error": "print('unclosed'\n",
    "exception": (
        "def inner():\n    raise KeyError('k')\n"
        "try:\n    inner()\nexcept KeyError as exc:\n    raise ValueError('outer') from exc\n"
    ),
    "exit-code": "import sys\nprint('bye')\nsys.exit(3)\n",
    "exit-message": "raise SystemExit('stopped here')\n",
    "imports-its-files": "import helper\nhelper.go()\n",
    "pickles-main": (
        "import pickle\nclass Point:\n    x = 1\n"
        "print(type(pickle.loads(pickle.dumps(Point()))).__qualname__)\n"
    ),
    "warns": "import warnings\nwarnings.warn('careful')\n",
    "atexit": "import atexit\natexit.register(print, 'at exit')\nprint('body')\n",
}
HELPER = b"def go():\n    print('helped by', __name__, __file__.rsplit('/', 1)[-1])\n"


def _cold(work: Path, source: bytes, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    (work / "main.py").write_bytes(source)
    (work / "helper.py").write_bytes(HELPER)
    argv = [*PYTHON, str(work / "main.py"), "one", "two"]
    return subprocess.run(argv, input=stdin, capture_output=True, env=ENV, cwd=work, check=False)


def _warm(work: Path, source: bytes, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    files = [(str(work / "main.py"), source), (str(work / "helper.py"), HELPER)]
    argv = [str(work / "main.py"), "one", "two"]
    message = warm_message(files, ENV, argv, {"nofile": 256}, stdin)
    read, write = os.pipe()
    proc = subprocess.Popen(
        [*PYTHON, "-c", LOADERS["python"], str(read)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": ENV["PATH"]},
        cwd=work,
        pass_fds=[read],
    )
    os.close(read)
    os.write(write, message)
    os.close(write)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_loader_runs_a_program_as_python_would(name: str, tmp_path: Path) -> None:
    source, stdin = PROGRAMS[name].encode(), b"first line\nthe rest\n"
    (tmp_path / "cold").mkdir()
    (tmp_path / "warm").mkdir()
    cold = _cold(tmp_path / "cold", source, stdin)
    warm = _warm(tmp_path / "warm", source, stdin)
    # Only the directory differs between the two runs.
    as_cold = [stream.replace(b"/warm", b"/cold") for stream in (warm.stdout, warm.stderr)]
    assert (warm.returncode, *as_cold) == (cold.returncode, cold.stdout, cold.stderr)


def test_the_loader_lowers_the_rlimits_it_is_given(tmp_path: Path) -> None:
    source = b"import resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    read, write = os.pipe()
    files = [(str(tmp_path / "main.py"), source)]
    message = warm_message(files, ENV, [str(tmp_path / "main.py")], {"nofile": 64}, b"")
    proc = subprocess.Popen(
        [*PYTHON, "-c", LOADERS["python"], str(read)], stdout=subprocess.PIPE, pass_fds=[read]
    )
    os.close(read)
    os.write(write, message)
    os.close(write)
    out, _ = proc.communicate(timeout=30)
    assert out == b"(64, 64)\n"


def test_a_loader_never_claimed_ends_without_running_anything() -> None:
    read, write = os.pipe()
    proc = subprocess.Popen(
        [*PYTHON, "-c", LOADERS["python"], str(read)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=[read],
    )
    os.close(read)
    os.close(write)  # the pool closed, or the executor died
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (125, b"", b"")
