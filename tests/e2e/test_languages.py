"""Every shipped language through the whole pipeline (gateway → tasks → scheduler → executor), on
every sandbox backend this machine has: bwrap, and docker with runc and with gVisor's runsc when
VOIDRUNNER_TEST_DOCKER_HOST names an engine that has them.

Each language runs a two-file program reading stdin as test cases (hello-world accepted, a wrong
answer, a non-zero exit code), built once for all three, and for compiled languages a program
that does not build. One stack per backend (its start and stop cost more than a language's runs)
starts every language's checks side by side; each language is its own test, which waits for its
checks, so a failure names the backend and the language. A language that cannot run on a backend
here (a missing toolchain, a missing image) is skipped alone, naming what to install; a missing
backend skips naming the machine capability it lacks.

On each backend a C program with five test cases (one expecting a wrong answer) shows that a
program is compiled once per execution: the executor's own count of compile steps
(voidrunner_sandbox_compile_steps_total on its /metrics port) moves by exactly one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_pipeline import login
from voidrunner.contracts.execution import FINAL
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats, NatsConfig
from voidrunner.devstack.processes import free_port
from voidrunner.devstack.pytest_plugin import DatabaseSupply, fail_on_refusals
from voidrunner.devstack.stack_fixtures import whole_stack

pytestmark = pytest.mark.sandbox

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
BACKENDS = ("bwrap", "docker-runc", "docker-runsc")
# A run waits in the queue behind the other languages' (two executor slots, and gVisor starts a
# container in about half a second): longer than one `?wait=` allows, so it is polled after one.
RUN_SECONDS = 240.0
# Well inside the client's read timeout (HTTP_SECONDS), which a longer wait would run into.
WAIT_SECONDS = 10
HTTP_SECONDS = 30
# uvicorn closes a connection idle for 5 s, httpx reuses one idle for up to 5 s: a request sent
# on a connection the server is closing at that moment fails ("Server disconnected without
# sending a response", seen here with eleven languages polling). Reuse only fresher ones.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


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
    """Why `runtime` cannot run on bwrap here (naming the Debian package to install), or None."""
    spec = load_catalog().get(runtime)
    missing = [b for b in spec.host_binaries if not _on_host(b)]
    return f"{runtime}: {spec.missing_reason(missing)}" if missing else None


def require_toolchain(runtime: str) -> None:
    """Skip the calling test, naming the package to install, when bwrap cannot run `runtime`."""
    reason = missing_toolchain(runtime)
    if reason:
        pytest.skip(reason)


@dataclass(frozen=True)
class Backend:
    """A sandbox backend as the matrix runs it: the executor's settings for it, why a runtime
    cannot run on it here (or None), and what its unavailable runtimes' reasons name."""

    name: str
    executor_settings: dict[str, Any]
    missing: Callable[[str], str | None]
    reason_names: Callable[[str], str]


def _bwrap() -> Backend:
    return Backend("bwrap", {}, missing_toolchain, lambda _runtime: "make runtimes")


def _docker(oci_runtime: str) -> Backend:
    """The docker backend with `oci_runtime`, or pytest.skip naming what the machine lacks."""
    # Only an engine named on purpose: never the machine's default socket.
    host = os.environ.get("VOIDRUNNER_TEST_DOCKER_HOST", "")
    if not host:
        pytest.skip("no Docker engine: VOIDRUNNER_TEST_DOCKER_HOST is not set")
    try:
        from sandbox_testing.docker_probe import EngineUnreachable, probe_engine_sync
    except ImportError as exc:
        pytest.skip(f"docker backend not importable: {exc}")
    catalog = load_catalog()
    try:
        facts = probe_engine_sync(host, [spec.image for spec in catalog])
    except EngineUnreachable as exc:
        pytest.skip(f"Docker engine unreachable: {exc}")
    if oci_runtime not in facts.oci_runtimes:
        pytest.skip(f"OCI runtime {oci_runtime} is not registered with the engine at {host}")

    def missing_image(runtime: str) -> str | None:
        image = catalog.get(runtime).image
        if image in facts.images:
            return None
        return (
            f"{runtime}: image {image} is not in the engine at {host} "
            "(VOIDRUNNER_SANDBOX_IMAGES=all scripts/ci/build-sandbox-images.sh)"
        )

    settings = {
        "sandbox_backend": "docker",
        "docker_host": host,
        "docker_runtime": oci_runtime,
        # Its own label: on start an executor removes what an earlier one of its owner left.
        "docker_owner": f"e2e-languages-{uuid.uuid4().hex[:8]}",
    }
    return Backend(f"docker-{oci_runtime}", settings, missing_image, lambda r: catalog.get(r).image)


def backend_named(name: str) -> Backend:
    """The backend `name` (one of BACKENDS), or pytest.skip naming the missing capability."""
    return _bwrap() if name == "bwrap" else _docker(name.removeprefix("docker-"))


def test_every_shipped_language_has_a_program() -> None:
    assert set(PROGRAMS) == set(load_catalog().names()) == set(SCRIPT_TYPES)
    for name, program in PROGRAMS.items():
        assert (program.broken is not None) == (load_catalog().get(name).compile is not None)


async def finished(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """A one-shot run of `body`, once it reached a final status (it may queue a while)."""
    resp = await client.post(f"/api/v1/runs?wait={WAIT_SECONDS}", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    done: dict[str, Any] = resp.json()
    deadline = time.monotonic() + RUN_SECONDS
    while done["status"] not in FINAL:
        assert time.monotonic() < deadline, f"still {done['status']} after {RUN_SECONDS} s"
        await asyncio.sleep(0.25)
        done = (await client.get(f"/api/v1/executions/{done['id']}", headers=auth)).json()
    return done


async def check_language(client: httpx.AsyncClient, auth: dict[str, str], runtime: str) -> None:
    """The language's program as test cases (built once for all three), then its compile error."""
    program = PROGRAMS[runtime]
    script_type, version = SCRIPT_TYPES[runtime]
    named: dict[str, Any] = {"script_type": script_type}
    if version is not None:
        named["version"] = version
    files = [{"path": path, "content": text} for path, text in program.files.items()]
    done = await finished(client, auth, {**named, "files": files, "test_cases": CASES})
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
    broken = await finished(
        client, auth, {**named, "script_content": program.broken, "test_cases": CASES}
    )
    assert (broken["verdict"], broken["passed"], broken["total"]) == ("compile_error", 0, 3)
    assert "nope" in broken["compile_output"], broken  # the compiler's message, naming it


@dataclass
class Matrix:
    """One backend's running stack, with every language's checks started on it."""

    backend: Backend
    client: httpx.AsyncClient
    auth: dict[str, str]
    listed: list[dict[str, Any]]  # GET /runtimes once the executor's adverts are in
    missing: dict[str, str]  # the runtimes that cannot run on this backend here, and why
    checks: dict[str, asyncio.Task[None]]  # the others' checks, running side by side
    metrics_url: str  # the executor's own /metrics


async def _adverts_landed(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    """GET /runtimes once the executor told about each runtime (moments after it is up)."""
    for _ in range(100):
        listed: list[dict[str, Any]] = (await client.get("/api/v1/runtimes", headers=auth)).json()[
            "runtimes"
        ]
        if all(r["available"] or r["reason"] != "no live executor offers it" for r in listed):
            break
        await asyncio.sleep(0.1)
    return listed


def selected_languages(request: pytest.FixtureRequest) -> list[str]:
    """The languages whose tests on this backend the session runs (all of them, unless `-k`
    picked some): only those are started."""
    picked = {
        str(item.callspec.params["runtime"])
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.module is request.module
        and hasattr(item, "callspec")
        and item.callspec.params.get("matrix") == request.param
        and "runtime" in item.callspec.params
    }
    return sorted(picked)


@pytest.fixture(scope="module", params=BACKENDS)
async def matrix(
    request: pytest.FixtureRequest,
    database_supply: DatabaseSupply,
    service_credentials: Credentials,
    nats_config_text: str,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> AsyncIterator[Matrix]:
    """A whole stack on one backend (its own database and NATS server) for every language of
    this module; the languages' checks start at once and run side by side."""
    backend = backend_named(request.param)
    metrics_port = free_port()
    executor_settings = {
        **backend.executor_settings,
        "metrics_host": "127.0.0.1",
        "metrics_port": metrics_port,
    }
    work: Path = tmp_path_factory.mktemp(f"languages-{backend.name}")
    nats = EmbeddedNats(NatsConfig(work / "nats", config_text=nats_config_text))
    nats.start()
    try:
        async with (
            database_supply.database() as database_url,
            whole_stack(
                database_url,
                nats.url,
                service_credentials,
                work,
                pytestconfig.rootpath / "web" / "dist",
                executor_settings,
            ) as stack,
            httpx.AsyncClient(
                base_url=stack.url, timeout=HTTP_SECONDS, limits=CLIENT_LIMITS
            ) as client,
        ):
            auth = await login(client)
            listed = await _adverts_landed(client, auth)
            missing = {r: why for r in sorted(PROGRAMS) if (why := backend.missing(r))}
            checks = {
                r: asyncio.create_task(check_language(client, auth, r), name=f"{backend.name}-{r}")
                for r in selected_languages(request)
                if r not in missing
            }
            try:
                metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
                yield Matrix(backend, client, auth, listed, missing, checks, metrics_url)
            finally:
                for check in checks.values():
                    check.cancel()
                await asyncio.gather(*checks.values(), return_exceptions=True)
    finally:
        nats.stop()
    fail_on_refusals(nats)


@pytest.mark.parametrize("runtime", sorted(PROGRAMS))
async def test_the_language_through_the_pipeline(matrix: Matrix, runtime: str) -> None:
    """Its hello-world, stdin, two files, exit code, test cases and compile error (its checks
    started with the stack's; this waits for them and reports how they went)."""
    if runtime in matrix.missing:
        pytest.skip(matrix.missing[runtime])
    await matrix.checks[runtime]


async def test_runtimes_are_listed_as_this_backend_offers_them(matrix: Matrix) -> None:
    by_name = {r["name"]: r for r in matrix.listed}
    assert set(by_name) == set(PROGRAMS)
    python = [r for r in matrix.listed if r["language"] == "python"]
    assert sorted(r["name"] for r in python) == ["pypy", "python"]
    assert "c++" in by_name["cpp"]["aliases"]
    assert "ts" in by_name["typescript"]["aliases"]
    for runtime in matrix.listed:
        # What the executor says agrees with what this backend has, and names what is missing.
        assert runtime["available"] == (runtime["name"] not in matrix.missing), runtime
        assert runtime["available"] == (runtime["reason"] is None), runtime
        if not runtime["available"]:
            assert matrix.backend.reason_names(runtime["name"]) in runtime["reason"], runtime
    if "pypy" not in matrix.missing:
        assert by_name["pypy"]["version"].startswith("3.9")


# What a program sees of its kernel and container: gVisor's kernel says 4.4.0, and Docker puts
# /.dockerenv in every container (bwrap in none).
WHERE = 'echo "$(uname -r) $([ -e /.dockerenv ] && echo docker || echo no-docker)"'


async def test_the_stack_really_runs_on_its_backend(matrix: Matrix) -> None:
    """Proof that the matrix ran where its name says, not on a default backend."""
    done = await finished(
        matrix.client, matrix.auth, {"script_type": "bash", "script_content": WHERE}
    )
    assert done["status"] == "completed", done
    kernel, container = done["stdout"].split()
    name = matrix.backend.name
    assert container == ("no-docker" if name == "bwrap" else "docker"), done["stdout"]
    assert (kernel == "4.4.0") == (name == "docker-runsc"), done["stdout"]


SQUARE = (
    "#include <stdio.h>\n"
    'int main(void) { long n; if (scanf("%ld", &n) != 1) return 1; printf("%ld\\n", n * n); }\n'
)
COMPILE_STEPS = "voidrunner_sandbox_compile_steps_total"


async def compile_steps(matrix: Matrix, runtime: str) -> float:
    """The compile steps the executor's sandboxes started for `runtime`, read from its
    /metrics port (prometheus-client's parser, not substrings)."""
    async with httpx.AsyncClient() as c:
        resp = await c.get(matrix.metrics_url)
    assert resp.status_code == 200, resp.text
    labels = {"backend": matrix.backend.name, "runtime": runtime}
    return sum(
        sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
        if sample.name == COMPILE_STEPS and sample.labels == labels
    )


async def test_a_c_program_is_compiled_once_for_five_test_cases(matrix: Matrix) -> None:
    """Four right answers and one wrong one, from one build: the executor's count of compile
    steps moves by exactly one for the five cases."""
    if "c" in matrix.missing:
        pytest.skip(matrix.missing["c"])
    # The languages' own checks compile C too: let them finish so the count is this run's.
    await asyncio.gather(*matrix.checks.values(), return_exceptions=True)
    cases = [
        {"name": f"{n} squared", "stdin": f"{n}\n", "expected_stdout": f"{n * n}\n"}
        for n in range(1, 6)
    ]
    cases[2]["expected_stdout"] = "10\n"  # 3 squared is not 10
    before = await compile_steps(matrix, "c")
    done = await finished(
        matrix.client,
        matrix.auth,
        {"script_type": "c", "script_content": SQUARE, "test_cases": cases},
    )
    after = await compile_steps(matrix, "c")
    verdicts = [c["verdict"] for c in done["cases"]]
    assert verdicts == ["accepted"] * 2 + ["wrong_answer"] + ["accepted"] * 2, done
    assert (done["verdict"], done["passed"], done["total"]) == ("wrong_answer", 4, 5), done
    assert done["cases"][2]["stdout"] == "9\n"
    assert done["compile_time_ms"] > 0, done
    print(f"{matrix.backend.name}: {COMPILE_STEPS}{{runtime=c}} {before:g} -> {after:g}")
    assert after - before == 1, (
        f"compile steps for 5 cases: {after - before:g} ({before:g} -> {after:g})"
    )
