"""docker-compose.yml: valid for the compose spec and the real Compose, and shaped as intended."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from .conftest import (
    COMPOSE_ENV,
    COMPOSE_FILE,
    ROOT,
    Doc,
    compose_binary,
    compose_config,
    run_compose,
    venv_bin,
)

OURS = ("migrate", "auth", "tasks", "scheduler", "executor", "gateway")
LONG_RUNNING = ("postgres", "nats", "auth", "tasks", "scheduler", "executor", "gateway")
TRACED = ("auth", "tasks", "scheduler", "executor", "gateway")


def check_jsonschema(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv_bin("check-jsonschema")), "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_compose_spec_schema() -> None:
    # The smoke override uses Compose's `!reset` tag, which a plain YAML parser refuses; the real
    # Compose validates it merged (test_smoke_override_keeps_everything_on_loopback).
    proc = check_jsonschema(str(COMPOSE_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_spec_schema_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  web:\n    image: x\n    restart: sometimes-maybe\n    portz: []\n")
    assert check_jsonschema(str(bad)).returncode != 0


def test_real_compose_accepts_the_file() -> None:
    proc = run_compose(["config", "--quiet"], COMPOSE_ENV)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("missing", sorted(COMPOSE_ENV))
def test_required_variables_are_refused_when_missing(missing: str) -> None:
    env = {k: v for k, v in COMPOSE_ENV.items() if k != missing}
    proc = run_compose(["config", "--quiet"], env)
    assert proc.returncode != 0
    assert missing in proc.stderr


def test_real_compose_rejects_an_invalid_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  web:\n    image: x\n    depends_on:\n      nowhere: {}\n")
    proc = run_compose(["config", "--quiet"], {}, (bad,))
    assert proc.returncode != 0


def test_only_the_gateway_is_published(compose_model: Doc) -> None:
    services = compose_model["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"gateway"}
    (port,) = services["gateway"]["ports"]
    assert port["target"] == 8080
    assert port["host_ip"] == "127.0.0.1"


def test_state_lives_in_named_volumes(compose_model: Doc) -> None:
    services = compose_model["services"]
    pg = {(v["type"], v["target"]) for v in services["postgres"]["volumes"]}
    assert ("volume", "/var/lib/postgresql/data") in pg
    nats = services["nats"]
    assert ("volume", "/data") in {(v["type"], v["target"]) for v in nats["volumes"]}
    assert nats["command"][:2] == ["-c", "/etc/nats/nats.conf"]
    assert {"postgres-data", "nats-data"} <= set(compose_model["volumes"])


def test_healthchecks_and_start_order(compose_model: Doc) -> None:
    services = compose_model["services"]
    for name in LONG_RUNNING:
        if name in OURS:
            # Our images carry the HEALTHCHECK; the file must not disable it.
            assert not services[name].get("healthcheck", {}).get("disable"), name
        else:
            assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("auth", "tasks"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    gateway = services["gateway"]["depends_on"]
    assert gateway["auth"]["condition"] == gateway["tasks"]["condition"] == "service_healthy"


def test_our_services_are_hardened(compose_model: Doc) -> None:
    for name in OURS:
        svc = compose_model["services"][name]
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["image"].endswith(f"/{name}:latest"), name
        assert svc["build"]["args"]["SERVICE"] == name, name
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile", name


def test_executor_uses_the_host_engine_with_runsc(compose_model: Doc) -> None:
    executor = compose_model["services"]["executor"]
    env = executor["environment"]
    assert env["VOIDRUNNER_SANDBOX_BACKEND"] == "docker"
    assert env["VOIDRUNNER_DOCKER_RUNTIME"] == "runsc"
    assert env["VOIDRUNNER_DOCKER_HOST"] == "unix:///var/run/docker.sock"
    mounts = {v["target"]: v["source"] for v in executor["volumes"]}
    assert mounts["/var/run/docker.sock"] == "/var/run/docker.sock"
    assert executor["group_add"] == [COMPOSE_ENV["DOCKER_SOCKET_GID"]]


def test_network_segments_follow_the_architecture(compose_model: Doc) -> None:
    nets = {name: set(svc.get("networks", {})) for name, svc in compose_model["services"].items()}
    on_data = {name for name, n in nets.items() if "data" in n}
    assert on_data == {"postgres", "migrate", "auth", "tasks"}
    assert nets["executor"] == {"bus"}
    assert nets["nats"] == {"bus"}
    edge = {name for name, n in nets.items() if "edge" in n}
    assert edge == {"gateway"}
    # Webhook deliveries leave from tasks alone; the executor (user code) never leaves the bus.
    outbound = {name for name, n in nets.items() if "outbound" in n}
    assert outbound == {"tasks"}
    assert not compose_model["networks"]["outbound"].get("internal", False)
    for name in ("rpc", "bus", "data"):
        assert compose_model["networks"][name]["internal"] is True


def test_smoke_override_keeps_everything_on_loopback(smoke_model: Doc) -> None:
    for name, svc in smoke_model["services"].items():
        assert svc["network_mode"] == "host", name
        assert not svc.get("ports"), name
    gateway = smoke_model["services"]["gateway"]["environment"]
    assert gateway["VOIDRUNNER_GATEWAY_HOST"] == "127.0.0.1"
    assert "networks" not in smoke_model


def test_env_example_ships_no_secret_and_make_up_generates_them(tmp_path: Path) -> None:
    """.env.example holds no secret; what `make up` generates makes a stack that compose accepts,
    each service mounting only its own key and NATS user."""
    from dotenv import dotenv_values

    from voidrunner.auth.keys import SigningKey
    from voidrunner.devstack.deploy_secrets import compose_secrets

    shipped = dotenv_values(ROOT / ".env.example")
    assert not shipped.get("POSTGRES_PASSWORD")
    assert not shipped.get("AUTH_SIGNING_KEY")
    env_file = tmp_path / ".env"
    secrets_dir = tmp_path / "secrets"
    added = compose_secrets(env_file, ROOT / ".env.example", secrets_dir)
    assert sorted(added) == [
        "AUTH_DATABASE_PASSWORD",
        "AUTH_SIGNING_KEY",
        "POSTGRES_PASSWORD",
        "SECRETS_DIR",
        "TASKS_DATABASE_PASSWORD",
        "WEBHOOK_SECRET_KEY",
    ]
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    before = env_file.read_text()
    assert compose_secrets(env_file, ROOT / ".env.example", secrets_dir) == []  # kept
    assert env_file.read_text() == before

    argv = [str(compose_binary()), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    argv += ["--env-file", str(env_file), "config", "--format", "json"]
    env = {"PATH": "/usr/bin:/bin", "DOCKER_SOCKET_GID": "999"}  # make up derives the gid
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    auth = services["auth"]["environment"]
    SigningKey.from_pem(auth["VOIDRUNNER_AUTH_SIGNING_KEY"])
    assert auth["VOIDRUNNER_DATABASE_URL"].startswith("postgresql://voidrunner_auth:")
    tasks = services["tasks"]["environment"]
    assert tasks["VOIDRUNNER_DATABASE_URL"].startswith("postgresql://voidrunner_tasks:")
    assert len(base64.b64decode(tasks["VOIDRUNNER_WEBHOOK_SECRET_KEY"], validate=True)) == 32
    migrate = services["migrate"]["environment"]
    assert migrate["VOIDRUNNER_DATABASE_ADMIN_URL"].startswith("postgresql://voidrunner:")
    for name in ("gateway", "auth", "tasks", "scheduler", "executor"):
        mounts = {v["target"]: v["source"] for v in services[name]["volumes"]}
        assert mounts["/run/secrets/voidrunner/service.key"].endswith(f"/{name}.key"), name
        assert mounts["/run/secrets/voidrunner/nats.nk"].endswith(f"/nats/{name}.nk"), name
        assert Path(mounts["/run/secrets/voidrunner/nats.nk"]).read_bytes().startswith(b"SU")
    nats = {v["target"]: v["source"] for v in services["nats"]["volumes"]}
    assert "nkey" in Path(nats["/etc/nats/nats.conf"]).read_text()


def test_tracing_is_off_unless_the_operator_names_a_collector(compose_model: Doc) -> None:
    from voidrunner.common.tracing import Tracing
    from voidrunner.scheduler.settings import SchedulerSettings

    services = compose_model["services"]
    for name in TRACED:
        env = services[name]["environment"]
        assert env["VOIDRUNNER_OTLP_ENDPOINT"] == "", name
        assert env["VOIDRUNNER_TRACE_SAMPLE_RATIO"] == "1", name
    assert not [k for k in services["migrate"]["environment"] if "OTLP" in k or "TRACE" in k]
    # An empty endpoint reaches the settings as "" (not None), which is off as well.
    settings = SchedulerSettings(otlp_endpoint="", trace_sample_ratio=1)
    assert settings.otlp_endpoint == ""
    assert not Tracing.configure(settings).enabled


def test_tracing_is_turned_on_from_the_environment() -> None:
    env = {
        **COMPOSE_ENV,
        "VOIDRUNNER_OTLP_ENDPOINT": "http://otel-collector:4317",
        "VOIDRUNNER_TRACE_SAMPLE_RATIO": "0.25",
    }
    services = compose_config(env)["services"]
    for name in TRACED:
        svc = services[name]
        assert svc["environment"]["VOIDRUNNER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        assert svc["environment"]["VOIDRUNNER_TRACE_SAMPLE_RATIO"] == "0.25", name
        # The one network all five share, where deploy/README.md puts the collector.
        assert "bus" in svc["networks"], name
        # Merging the tracing anchor kept the identity one.
        assert svc["environment"]["VOIDRUNNER_SERVICE_KEY_FILE"].startswith("/run/secrets/"), name
