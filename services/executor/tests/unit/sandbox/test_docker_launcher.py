"""The docker launcher: payload encoding, trailer splitting, and the launcher itself run locally."""

from __future__ import annotations

import ast
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from voidrunner.executor.sandbox.build import unpack_artifact
from voidrunner.executor.sandbox.docker_launcher import (
    LAUNCHER_ARGV,
    MARKER,
    PayloadFile,
    TrailerSplitter,
    encode_payload,
)

NONCE = "0123456789abcdef0123456789abcdef"


def test_payload_layout() -> None:
    payload = encode_payload(
        nonce=NONCE,
        argv=["python3", "main.py"],
        env={"A": "1"},
        files=[PayloadFile("/sandbox/main.py", b"print(1)")],
        cwd="/tmp",
        stdin=b"input",
    )
    length = int(payload[:9])
    assert payload[9:10] == b"\n"
    header = payload[10 : 10 + length].split(b"\0")
    assert header[:5] == [NONCE.encode(), b"/tmp", b"", b"0", b"1"]
    assert header[5:8] == [b"/sandbox/main.py", b"444", b"8"]
    assert payload[10 + length :] == b"print(1)input"


def test_payload_refuses_nul_bytes_and_bad_nonces() -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode_payload(nonce=NONCE, argv=["a\0b"], env={}, files=[], cwd="/tmp")
    with pytest.raises(ValueError, match="nonce"):
        encode_payload(nonce="short", argv=["a"], env={}, files=[], cwd="/tmp")


def test_splitter_passes_ordinary_output_through_at_once() -> None:
    splitter = TrailerSplitter(NONCE)
    assert splitter.feed(b"hello\n") == b"hello\n"
    assert splitter.feed(b"\xff\x00\xfe") == b"\xff\x00\xfe"  # binary is not held back
    assert splitter.finish() == b""
    assert splitter.trailer() is None


def test_splitter_finds_a_trailer_split_across_chunks() -> None:
    splitter = TrailerSplitter(NONCE, max_artifact=16)
    whole = b"err text" + MARKER + NONCE.encode() + b"\0" + b"0 0 1500000 4096 3 2500000 0\nart"
    out = b"".join(splitter.feed(whole[i : i + 5]) for i in range(0, len(whole), 5))
    assert out == b"err text"
    trailer = splitter.trailer()
    assert trailer is not None
    assert (trailer.exit_code, trailer.signal, trailer.cpu_time_ns) == (0, None, 1_500_000)
    assert (trailer.peak_memory_bytes, trailer.artifact) == (4096, b"art")
    assert trailer.wall_time_ns == 2_500_000


def test_splitter_releases_a_false_start_and_rejects_forged_nonces() -> None:
    splitter = TrailerSplitter(NONCE)
    assert splitter.feed(b"abc\0VOIDRUN") == b"abc"
    assert splitter.feed(b"NER nope") == b"\0VOIDRUNNER nope"
    forged = MARKER + b"f" * 32 + b"\0" + b"0 0 0 0 0 0 0\n"
    assert splitter.feed(forged) == forged
    assert splitter.trailer() is None


def test_splitter_drops_an_oversized_trailer() -> None:
    splitter = TrailerSplitter(NONCE, max_artifact=0)
    splitter.feed(MARKER + NONCE.encode() + b"\0" + b"0 0 0 0 9000 0 0\n" + b"x" * 9000)
    assert splitter.overflow
    assert splitter.trailer() is None


def _launch(tmp_path: Path, argv: list[str], stdin: bytes = b"", **kw: object) -> tuple[bytes, ...]:
    tmp_path.mkdir(exist_ok=True)
    nonce = secrets.token_hex(16)
    source = tmp_path / "main.py"  # O_EXCL: the launcher never writes over an existing file
    payload = encode_payload(
        nonce=nonce,
        argv=argv,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "GREETING": "hi"},
        files=[PayloadFile(str(source), b"import sys; print(sys.stdin.read())", 0o444)],
        cwd=str(tmp_path),
        stdin=stdin,
        **kw,  # type: ignore[arg-type]
    )
    done = subprocess.run(
        [sys.executable, *LAUNCHER_ARGV[1:]], input=payload, capture_output=True, check=False
    )
    splitter = TrailerSplitter(nonce, max_artifact=1 << 20)
    stderr = splitter.feed(done.stderr) + splitter.finish()
    trailer = splitter.trailer()
    assert trailer is not None, done.stderr
    return done.stdout, stderr, str(done.returncode).encode(), repr(trailer).encode()


def test_the_launcher_writes_files_runs_the_program_and_reports(tmp_path: Path) -> None:
    out, err, code, trailer = _launch(tmp_path, [sys.executable, "main.py"], stdin=b"from stdin")
    assert (out, err, code) == (b"from stdin\n", b"", b"0")
    assert b"exit_code=0" in trailer
    assert (tmp_path / "main.py").stat().st_mode & 0o777 == 0o444


def test_the_launcher_passes_exactly_the_given_environment(tmp_path: Path) -> None:
    script = "import os; print(sorted(os.environ))"
    out, _, _, _ = _launch(tmp_path, [sys.executable, "-c", script])
    assert out == b"['GREETING', 'LANG', 'PATH']\n"


def test_the_launcher_reports_signals_missing_programs_and_artifacts(tmp_path: Path) -> None:
    _, _, code, trailer = _launch(tmp_path / "a", ["sh", "-c", "kill -SEGV $$"])
    assert code == b"139"
    assert b"signal=11" in trailer
    _, err, code, _ = _launch(tmp_path / "b", ["voidrunner-no-such-program"])
    assert code == b"127"
    assert b"cannot run voidrunner-no-such-program" in err
    artifact = str(tmp_path / "c" / "out.bin")
    _, _, _, trailer = _launch(
        tmp_path / "c",
        ["sh", "-c", f"printf built > {artifact}"],
        artifact=artifact,
        max_artifact=1 << 20,
    )
    # The artifact comes back as a tar stream of the file (or directory) the build left.
    match = re.search(rb"artifact=(b'.*?'), wall", trailer, re.S)
    assert match is not None
    files = unpack_artifact(ast.literal_eval(match.group(1).decode()), max_bytes=1 << 20)
    assert [(f.path, f.data) for f in files] == [("out.bin", b"built")]
    # Larger than allowed: no artifact at all, never a part of one.
    _, _, _, small = _launch(
        tmp_path / "d",
        ["sh", "-c", f"printf built > {tmp_path / 'd' / 'out.bin'}"],
        artifact=str(tmp_path / "d" / "out.bin"),
        max_artifact=100,
    )
    assert b"artifact=b''" in small
