"""`voidrunner run` against the real stack: live output, exit codes, stdin, bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from client_harness import Cli

pytestmark = pytest.mark.sandbox

SLOW_TWO_LINES = (
    "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second', flush=True)\n"
)


def program(tmp_path: Path, name: str, code: str) -> str:
    path = tmp_path / name
    path.write_text(code)
    return str(path)


async def test_output_is_streamed_as_it_is_produced(
    cli: Cli, pipeline: Any, tmp_path: Path
) -> None:
    result = await cli("run", program(tmp_path, "two.py", SLOW_TWO_LINES))
    assert result.code == 0, result.err
    assert [line for _, line in result.lines] == [b"first\n", b"second\n"]
    first_at, _ = result.lines[0]
    # The program sleeps 1 s between its lines: the first must be out well before the end.
    assert result.ended - first_at > 0.7, (first_at, result.ended)


async def check_test_cases(cli: Cli, tmp_path: Path) -> None:
    """With test cases: 0 when every case is accepted, else 1, with the verdicts on stderr."""
    rev = program(tmp_path, "rev.py", "print(input()[::-1])\n")
    good = tmp_path / "good.json"
    good.write_text('[{"name": "a", "stdin": "abc\\n", "expected_stdout": "cba\\n"}]')
    bad = tmp_path / "bad.json"
    bad.write_text(
        '[{"name": "a", "stdin": "abc\\n", "expected_stdout": "cba\\n"},'
        ' {"name": "b", "stdin": "xy\\n", "expected_stdout": "xy\\n"}]'
    )
    passed, failed = await asyncio.gather(
        cli("run", rev, "--tests", str(good)), cli("run", rev, "--tests", str(bad))
    )
    assert passed.code == 0, passed.err
    assert "1/1 cases accepted" in passed.err
    assert failed.code == 1, failed.err
    assert "wrong_answer" in failed.err
    assert "1/2 cases accepted" in failed.err


async def test_exit_codes_are_the_programs(cli: Cli, pipeline: Any, tmp_path: Path) -> None:
    runs = {
        "ok": ("print('ok')\n", [], 0),
        "three": ("import sys\nsys.exit(3)\n", [], 3),
        "slow": ("import time\ntime.sleep(30)\n", ["--timeout", "1"], 124),
        "killed": ("import os\nos.kill(os.getpid(), 9)\n", [], 137),
        "broken.go": ("package main\n\nfunc main() { nope() }\n", [], 1),
    }
    # One stack for all of them (each test starts its own): the runs go at once.
    results, _ = await asyncio.gather(
        asyncio.gather(
            *(
                cli("run", program(tmp_path, name if "." in name else f"{name}.py", code), *extra)
                for name, (code, extra, _) in runs.items()
            )
        ),
        check_test_cases(cli, tmp_path),
    )
    for (name, (_, _, expected)), result in zip(runs.items(), results, strict=True):
        assert result.code == expected, (name, result.err)
    assert results[0].stdout == b"ok\n"
    assert "timed out" in results[2].err
    assert "SIGKILL" in results[3].err
    assert "undefined: nope" in results[4].err  # the compiler's own output


async def test_stdin_from_a_pipe_and_program_arguments(
    cli: Cli, pipeline: Any, tmp_path: Path
) -> None:
    code = "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\n"
    blob = tmp_path / "data.bin"
    blob.write_bytes(bytes([255, 0, 254]))
    # The binary file travels as base64; the program's binary stdout comes back as raw bytes.
    echo = "import sys\nsys.stdout.buffer.write(open('data.bin', 'rb').read()[::-1])\n"
    result, binary = await asyncio.gather(
        cli(
            "run",
            program(tmp_path, "up.py", code),
            "--stdin",
            "-",
            "--",
            "-x",
            "y",
            stdin=b"hello",
        ),
        cli("run", program(tmp_path, "echo.py", echo), str(blob), cwd=tmp_path),
    )
    assert result.code == 0, result.err
    assert result.stdout == b"HELLO ['-x', 'y']\n"
    assert binary.code == 0, binary.err
    assert binary.stdout == bytes([254, 0, 255])


async def test_bad_input_is_one_line_and_125(cli: Cli, gateway_url: str, tmp_path: Path) -> None:
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    cases = [
        (cli("run", str(binary)), "is not a text file"),
        (cli("run", str(tmp_path / "missing.py")), "no such file"),
        (cli("run", program(tmp_path, "x.unknown", "x")), "--lang"),
        (cli("whoami", VOIDRUNNER_TOKEN="vr_wrongwrongwrong"), "Invalid or expired token"),
        (Cli(gateway_url, tmp_path / "empty")("whoami"), "not signed in"),
    ]
    results = await asyncio.gather(*(call for call, _ in cases))
    for (_, message), result in zip(cases, results, strict=True):
        assert result.code == 125, result.err
        assert message in result.err
        assert "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
