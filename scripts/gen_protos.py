"""Generate Python code from protos/ into libs/proto/src, or check that it has not drifted.

Usage: gen_protos.py [--check]
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "libs" / "proto" / "src"
PACKAGE = OUT / "voidrunner" / "proto"


def generate(out: Path) -> None:
    """Run protoc (from grpcio-tools) with the mypy-protobuf plugins into `out`."""
    import grpc_tools

    bindir = Path(sys.executable).parent
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    pkg = out / "voidrunner" / "proto"
    # voidrunner/ stays a namespace package shared with the services; below it, regular packages.
    for d in [pkg, *(p for p in pkg.rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    (pkg / "py.typed").touch()


def _tree(path: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(path)): p
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = _tree(Path(tmp) / "voidrunner" / "proto")
        if check:
            current = _tree(PACKAGE) if PACKAGE.exists() else {}
            drift = sorted(
                name
                for name in fresh.keys() | current.keys()
                if name not in fresh
                or name not in current
                or not filecmp.cmp(fresh[name], current[name], shallow=False)
            )
            if drift:
                print("generated code drifted from protos/ (run `make proto`):", *drift, sep="\n  ")
                return 1
            print("generated code matches protos/")
            return 0
        if PACKAGE.exists():
            shutil.rmtree(PACKAGE)
        shutil.copytree(Path(tmp) / "voidrunner" / "proto", PACKAGE)
    print(f"generated {len(fresh)} files into {PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
