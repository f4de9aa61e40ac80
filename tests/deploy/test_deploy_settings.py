"""Every VOIDRUNNER_* variable that compose or Kubernetes sets is one the service reads.

The Settings classes are the truth: a variable no field reads is a typo or a leftover that would
be silently ignored (the settings ignore unknown variables). Each service's required secrets must
be provided, and the whole environment must parse, in production mode, with the service's own
Settings class (values from Secrets replaced by stand-ins).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic_settings import BaseSettings

from voidrunner.auth.settings import AuthSettings
from voidrunner.common.settings import BaseServiceSettings
from voidrunner.executor.settings import ExecutorSettings
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.scheduler.settings import SchedulerSettings
from voidrunner.tasks.settings import TasksSettings

from .conftest import DEV_SIGNING_KEY, OVERLAYS, Doc

PREFIX = "VOIDRUNNER_"
SETTINGS: dict[str, tuple[type[BaseServiceSettings], ...]] = {
    "gateway": (GatewaySettings,),
    "auth": (AuthSettings,),
    "tasks": (TasksSettings,),
    "scheduler": (SchedulerSettings,),
    "executor": (ExecutorSettings,),
    # the one-shot migrate image runs both migrations (deploy/docker/entrypoint.sh)
    "migrate": (AuthSettings, TasksSettings),
}
# A value that is not a literal in the file: a Secret, the downward API.
FROM_REFERENCE = "<reference>"
STAND_INS = {
    "VOIDRUNNER_DATABASE_URL": "postgresql://u:p@db.invalid:5432/voidrunner",
    "VOIDRUNNER_AUTH_SIGNING_KEY": DEV_SIGNING_KEY,
}


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The variables a Settings class reads (`secret_fields` is configuration, not input)."""
    return {PREFIX + name.upper() for name in cls.model_fields if name != "secret_fields"}


def required_secrets(cls: type[BaseServiceSettings]) -> set[str]:
    default = cls.model_fields["secret_fields"].default
    return {PREFIX + name.upper() for name in default}


@dataclass(frozen=True)
class Workload:
    where: str
    service: str
    env: dict[str, str]


def compose_workloads(model: Doc, label: str) -> Iterator[Workload]:
    for name, svc in model["services"].items():
        env = {k: ("" if v is None else str(v)) for k, v in svc.get("environment", {}).items()}
        if name == "migrate":
            # deploy/docker/entrypoint.sh gives each service's migrations its own role's URL.
            for own in ("AUTH_DATABASE_URL", "TASKS_DATABASE_URL"):
                assert env.pop(own).startswith("postgresql://voidrunner_"), own
                env["VOIDRUNNER_DATABASE_URL"] = "postgresql://a-role-url"
        if name in SETTINGS:
            yield Workload(f"{label}:{name}", name, env)
        else:
            assert not [k for k in env if k.startswith(PREFIX)], f"{name} gets VOIDRUNNER_*"


def k8s_workloads(docs: list[Doc], overlay: str) -> Iterator[Workload]:
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        app = doc["spec"]["template"]["metadata"]["labels"]["app"]
        spec = doc["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                assert "configMapRef" in source, f"{app}: only ConfigMaps are bulk-imported"
                env.update(config_maps[source["configMapRef"]["name"]])
            for var in container.get("env", []):
                env[var["name"]] = var.get("value", FROM_REFERENCE)
            where = f"{overlay}:{app}/{container['name']}"
            if app in SETTINGS:
                yield Workload(where, app, env)
            else:
                assert not [k for k in env if k.startswith(PREFIX)], f"{where} gets VOIDRUNNER_*"


def all_workloads(
    rendered: dict[str, list[Doc]], compose_model: Doc, smoke_model: Doc
) -> list[Workload]:
    found = [*compose_workloads(compose_model, "compose"), *compose_workloads(smoke_model, "smoke")]
    for overlay in OVERLAYS:
        found += k8s_workloads(rendered[overlay], overlay)
    return found


def unknown_variables(workload: Workload) -> set[str]:
    known = set().union(*(env_names(cls) for cls in SETTINGS[workload.service]))
    return {k for k in workload.env if k.startswith(PREFIX)} - known


def missing_secrets(workload: Workload) -> set[str]:
    needed = set().union(*(required_secrets(cls) for cls in SETTINGS[workload.service]))
    return {name for name in needed if not workload.env.get(name)}


def test_every_service_is_covered(
    rendered: dict[str, list[Doc]], compose_model: Doc, smoke_model: Doc
) -> None:
    seen = {
        (w.where.split(":")[0], w.service)
        for w in all_workloads(rendered, compose_model, smoke_model)
    }
    for source in ("compose", "smoke", *OVERLAYS):
        services = {svc for src, svc in seen if src == source}
        expected = set(SETTINGS) if source in ("compose", "smoke") else set(SETTINGS) - {"migrate"}
        assert services == expected, source


def test_every_variable_is_read_by_the_service(
    rendered: dict[str, list[Doc]], compose_model: Doc, smoke_model: Doc
) -> None:
    problems = {
        w.where: sorted(unknown)
        for w in all_workloads(rendered, compose_model, smoke_model)
        if (unknown := unknown_variables(w))
    }
    assert problems == {}


def test_every_required_secret_is_provided(
    rendered: dict[str, list[Doc]], compose_model: Doc, smoke_model: Doc
) -> None:
    problems = {
        w.where: sorted(missing)
        for w in all_workloads(rendered, compose_model, smoke_model)
        if (missing := missing_secrets(w))
    }
    assert problems == {}


def test_every_environment_parses_in_production(
    rendered: dict[str, list[Doc]],
    compose_model: Doc,
    smoke_model: Doc,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    for workload in all_workloads(rendered, compose_model, smoke_model):
        for key in list(os.environ):
            if key.startswith(PREFIX):
                monkeypatch.delenv(key)
        for key, value in workload.env.items():
            literal = STAND_INS.get(key, "from-a-reference") if value == FROM_REFERENCE else value
            monkeypatch.setenv(key, literal)
        for cls in SETTINGS[workload.service]:
            settings = cls()
            assert settings.is_production, workload.where


def test_the_cross_check_catches_a_typo_and_a_missing_secret() -> None:
    typo = Workload("x", "scheduler", {"VOIDRUNNER_TASK_ADDR": "tasks:50052"})
    assert unknown_variables(typo) == {"VOIDRUNNER_TASK_ADDR"}
    wrong_service = Workload("x", "executor", {"VOIDRUNNER_DATABASE_URL": "postgresql://"})
    assert unknown_variables(wrong_service) == {"VOIDRUNNER_DATABASE_URL"}
    no_key = Workload("x", "migrate", {"VOIDRUNNER_DATABASE_URL": "postgresql://"})
    assert missing_secrets(no_key) == {
        "VOIDRUNNER_AUTH_SIGNING_KEY",
        "VOIDRUNNER_WEBHOOK_SECRET_KEY",
    }
