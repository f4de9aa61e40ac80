"""Every shipped language through the whole pipeline (gateway → tasks → scheduler → executor on
bwrap): a two-file program reading stdin, run as test cases (hello-world accepted, a wrong answer,
a non-zero exit code), and for compiled languages a program that does not build.

One execution per language builds its program once for every case; a second one is the compile
error. The whole matrix shares one stack (its start and stop cost more than a language's runs)
and runs side by side. A language whose toolchain is missing here is skipped, naming the Debian
package to install (`make runtimes` installs them all; CI does).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.test_judge import one_shot
from tests.e2e.test_pipeline import login
from voidrunner.contracts.runtimes import load_catalog

pytestmark = pytest.mark.sandbox

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Program:
    """A language's test program: files[0] is the entry; it prints `greet(stdin)` from the other
    file, and exits 3 (printing nothing) when stdin is "fail"."""

    files: dict[str, str]
    broken: str | None = None  # a source that does not compile: it calls nope() (compiled ones)


PY = Program(
    {
        "main.py": "import sys\nfrom greet import greet\nname = sys.stdin.read().strip()\n"
        "if name == 'fail':\n    sys.exit(3)\nprint(greet(name))\n",
        "greet.py": "def greet(name):\n    return 'hello, ' + name\n",
    }
)
PROGRAMS: dict[str, Program] = {
    "python": PY,
    "pypy": PY,
    "javascript": Program(
        {
            "main.js": 'const { greet } = require("./greet.js");\n'
            'const name = require("fs").readFileSync(0, "utf8").trim();\n'
            'if (name === "fail") process.exit(3);\nconsole.log(greet(name));\n',
            "greet.js": 'exports.greet = (name) => "hello, " + name;\n',
        }
    ),
    "typescript": Program(
        {
            "main.ts": 'import { greet } from "./greet";\n'
            'const name: string = require("fs").readFileSync(0, "utf8").trim();\n'
            'if (name === "fail") process.exit(3);\nconsole.log(greet(name));\n',
            "greet.ts": "export function greet(name: string): string {\n"
            '  return "hello, " + name;\n}\n',
        },
        broken="const n: number = nope();\n",
    ),
    "bash": Program(
        {
            "main.sh": '. ./greet.sh\nread -r name\n[ "$name" = fail ] && exit 3\ngreet "$name"\n',
            "greet.sh": 'greet() { echo "hello, $1"; }\n',
        }
    ),
    "ruby": Program(
        {
            "main.rb": 'require_relative "greet"\nname = $stdin.read.strip\n'
            'exit 3 if name == "fail"\nputs greet(name)\n',
            "greet.rb": 'def greet(name)\n  "hello, #{name}"\nend\n',
        }
    ),
    "go": Program(
        {
            "main.go": 'package main\nimport ("fmt"; "os")\nfunc main() {\n'
            '  var name string\n  fmt.Scan(&name)\n  if name == "fail" { os.Exit(3) }\n'
            "  fmt.Println(greet(name))\n}\n",
            "greet.go": "package main\n"
            'func greet(name string) string { return "hello, " + name }\n',
        },
        broken="package main\nfunc main() { nope() }\n",
    ),
    "c": Program(
        {
            "main.c": '#include <stdio.h>\n#include <string.h>\n#include "greet.h"\n'
            "int main(void) {\n  char name[64] = {0};\n"
            '  if (scanf("%63s", name) != 1) return 1;\n'
            '  if (strcmp(name, "fail") == 0) return 3;\n  greet(name);\n  return 0;\n}\n',
            "greet.c": '#include <stdio.h>\n#include <math.h>\n#include "greet.h"\n'
            'void greet(const char *name) { printf("hello, %s\\n", name + (int)floor(0.5)); }\n',
            "greet.h": "void greet(const char *name);\n",
        },
        broken="int main(void) { return nope(); }\n",
    ),
    "cpp": Program(
        {
            "main.cpp": '#include <iostream>\n#include <string>\n#include "greet.hpp"\n'
            "int main() {\n  std::string name;\n  std::cin >> name;\n"
            '  if (name == "fail") return 3;\n'
            "  std::cout << greet(name) << std::endl;\n}\n",
            "greet.cpp": '#include "greet.hpp"\n'
            'std::string greet(const std::string &name) { return "hello, " + name; }\n',
            "greet.hpp": "#include <string>\nstd::string greet(const std::string &name);\n",
        },
        broken="int main() { return nope(); }\n",
    ),
    "rust": Program(
        {
            "main.rs": "mod greet;\nuse std::io::Read;\nfn main() {\n"
            "    let mut name = String::new();\n"
            "    std::io::stdin().read_to_string(&mut name).unwrap();\n"
            '    if name.trim() == "fail" { std::process::exit(3); }\n'
            '    println!("{}", greet::greet(name.trim()));\n}\n',
            "greet.rs": 'pub fn greet(name: &str) -> String { format!("hello, {}", name) }\n',
        },
        broken="fn main() { nope(); }\n",
    ),
    "java": Program(
        {
            "Main.java": "import java.util.Scanner;\npublic class Main {\n"
            "  public static void main(String[] args) {\n"
            "    String name = new Scanner(System.in).next();\n"
            '    if (name.equals("fail")) System.exit(3);\n'
            "    System.out.println(Greet.greet(name));\n  }\n}\n",
            "Greet.java": "class Greet {\n"
            '  static String greet(String name) { return "hello, " + name; }\n}\n',
        },
        broken="public class Main { public static void main(String[] a) { nope(); } }\n",
    ),
}
# What a run names each language by: the runtime, an alias, or (script_type, version).
SCRIPT_TYPES: dict[str, tuple[str, str | None]] = {
    "python": ("python", "3.11"),
    "pypy": ("python", "3.9"),
    "javascript": ("js", None),
    "typescript": ("ts", None),
    "bash": ("bash", None),
    "ruby": ("ruby", None),
    "go": ("go", None),
    "c": ("c", None),
    "cpp": ("c++", None),
    "rust": ("rust", None),
    "java": ("java", None),
}
CASES = [
    {"name": "hello", "stdin": "world\n", "expected_stdout": "hello, world\n"},
    {"name": "wrong", "stdin": "moon\n", "expected_stdout": "hello, sun\n"},
    {"name": "exit code", "stdin": "fail\n", "expected_stdout": ""},
]


def _on_host(binary: str) -> bool:
    """As the bwrap backend looks a host binary up: on its PATH, under /usr."""
    path = shutil.which(binary, path=SANDBOX_PATH)
    return path is not None and os.path.realpath(path).startswith("/usr/")


def missing_toolchain(runtime: str) -> str | None:
    """Why `runtime` cannot run here (naming the Debian package to install), or None."""
    spec = load_catalog().get(runtime)
    missing = [b for b in spec.host_binaries if not _on_host(b)]
    return f"{runtime}: {spec.missing_reason(missing)}" if missing else None


def require_toolchain(runtime: str) -> None:
    reason = missing_toolchain(runtime)
    if reason:
        pytest.skip(reason)


def test_every_shipped_language_has_a_program() -> None:
    assert set(PROGRAMS) == set(load_catalog().names()) == set(SCRIPT_TYPES)
    for name, program in PROGRAMS.items():
        assert (program.broken is not None) == (load_catalog().get(name).compile is not None)


async def check_language(client: httpx.AsyncClient, auth: dict[str, str], runtime: str) -> None:
    """The language's program as test cases (built once for all three), then its compile error."""
    program = PROGRAMS[runtime]
    script_type, version = SCRIPT_TYPES[runtime]
    named: dict[str, Any] = {"script_type": script_type}
    if version is not None:
        named["version"] = version
    files = [{"path": path, "content": text} for path, text in program.files.items()]
    done = await one_shot(client, auth, {**named, "files": files, "test_cases": CASES}, wait=60)
    why = {k: done.get(k) for k in ("termination_detail", "compile_output", "cases")}
    # Resolved and stored as the catalogue's (language, version).
    spec = load_catalog().resolve(script_type, version)
    assert (done["script_type"], done.get("version")) == (spec.language, spec.version), done
    assert (done["verdict"], done["passed"], done["total"]) == ("wrong_answer", 1, 3), why
    hello, wrong, failed = done["cases"]
    assert (hello["verdict"], hello["stdout"]) == ("accepted", "hello, world\n"), why
    assert (wrong["verdict"], wrong["stdout"]) == ("wrong_answer", "hello, moon\n"), why
    assert (failed["verdict"], failed["return_code"]) == ("runtime_error", 3), why
    if program.broken is None:
        assert done.get("compile_time_ms") is None, done
        return
    assert done["compile_time_ms"] > 0
    broken = await one_shot(
        client, auth, {**named, "script_content": program.broken, "test_cases": CASES}, wait=60
    )
    assert (broken["verdict"], broken["passed"], broken["total"]) == ("compile_error", 0, 3)
    assert "nope" in broken["compile_output"], broken  # the compiler's message, naming it


async def test_every_language_through_the_pipeline(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    """One stack for the whole matrix (starting and stopping one costs more than a language's
    runs): the languages run side by side, each failure is reported with its language, and a
    language whose toolchain is missing here is skipped at the end, naming its package."""
    auth = await login(client)
    # The executor's adverts land moments after it is up: wait until it has told about each one.
    for _ in range(100):
        listed = (await client.get("/api/v1/runtimes", headers=auth)).json()["runtimes"]
        if all(r["available"] or r["reason"] != "no live executor offers it" for r in listed):
            break
        await asyncio.sleep(0.1)
    by_name = {r["name"]: r for r in listed}
    assert set(by_name) == set(PROGRAMS)
    python = [r for r in listed if r["language"] == "python"]
    assert sorted(r["name"] for r in python) == ["pypy", "python"]
    assert "c++" in by_name["cpp"]["aliases"]
    assert "ts" in by_name["typescript"]["aliases"]
    missing = {r: why for r in sorted(PROGRAMS) if (why := missing_toolchain(r))}
    for runtime in listed:
        # What the executor says agrees with what is installed, and names the package.
        assert runtime["available"] == (runtime["name"] not in missing), runtime
        assert runtime["available"] == (runtime["reason"] is None), runtime
        if not runtime["available"]:
            assert "make runtimes" in runtime["reason"], runtime
    if "pypy" not in missing:
        assert by_name["pypy"]["version"].startswith("3.9")
    runnable = [r for r in sorted(PROGRAMS) if r not in missing]
    outcomes = await asyncio.gather(
        *(check_language(client, auth, r) for r in runnable), return_exceptions=True
    )
    failures = {r: o for r, o in zip(runnable, outcomes, strict=True) if o is not None}
    assert not failures, "\n\n".join(f"{r}: {o!r}" for r, o in failures.items())
    if missing:
        pytest.skip(f"ran {', '.join(runnable)}; skipped " + "; ".join(missing.values()))
