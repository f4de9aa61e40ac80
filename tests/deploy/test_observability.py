"""Monitoring, autoscaling and traces: the optional kustomize components and the Grafana dashboard.

The components (deploy/k8s/components/monitoring, .../keda, .../tracing) are rendered on top of
the prod overlay, each alone and all together, and the whole output validated: core kinds
strictly with kubernetes-validate, the custom resources against their vendored CRD schemas. The
dashboard's queries may only name metrics, and group by labels, that the services really export.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client.metrics import MetricWrapperBase

from voidrunner.contracts import topology
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.devstack.nats_config import ACCOUNT
from voidrunner.executor.main import HAND_BACK_SECONDS
from voidrunner.executor.settings import ExecutorSettings

from .conftest import CRD_SCHEMAS, K8S, K8S_VERSIONS, ROOT, Doc, crd_errors, kustomize_build
from .test_deploy_settings import SETTINGS, k8s_workloads, unknown_variables
from .test_k8s_manifests import (
    APPS,
    EXPECTED_EDGES,
    all_containers,
    allowed_edges,
    by_kind,
    pod_spec,
    validate_strict,
    workloads,
)

COMPONENTS = {
    "monitoring": ("monitoring",),
    "keda": ("keda",),
    "monitoring+keda": ("monitoring", "keda"),
    "tracing": ("tracing",),
    "monitoring+keda+tracing": ("monitoring", "keda", "tracing"),
}
KEDA_COMBOS = tuple(combo for combo in COMPONENTS if "keda" in combo)
TRACING_COMBOS = tuple(combo for combo in COMPONENTS if "tracing" in combo)
COLLECTOR_POLICY = "allow-otlp-collector-egress"
PROD_EXTERNAL_DB = {("auth", "external-db", 5432), ("tasks", "external-db", 5432)}
DASHBOARD = ROOT / "deploy" / "grafana" / "voidrunner-dashboard.json"


def render_with(tmp: Path, components: tuple[str, ...]) -> list[Doc]:
    """The prod overlay plus `components`, as an operator's overlay would enable them.

    kustomize refuses absolute paths, so the throwaway kustomization names them relatively.
    """
    rel = Path(os.path.relpath(K8S, tmp)).as_posix()
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: voidrunner",
        "resources:",
        f"  - {rel}/overlays/prod",
        "components:",
        *(f"  - {rel}/components/{name}" for name in components),
    ]
    (tmp / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    return kustomize_build(tmp)


@pytest.fixture(scope="session")
def with_components(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    """Each combination of the optional components, rendered once per session."""
    return {
        name: render_with(tmp_path_factory.mktemp(name.replace("+", "-")), parts)
        for name, parts in COMPONENTS.items()
    }


def matches(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector matches a set of labels (In, NotIn, Exists)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present = labels.get(expr["key"])
        values = expr.get("values", [])
        ok = {
            "In": present in values,
            "NotIn": present not in values,
            "Exists": present is not None,
            "DoesNotExist": present is None,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def selected_workloads(docs: list[Doc], selector: Doc) -> set[str]:
    """The workloads whose pods a selector picks."""
    return {
        name
        for name, w in workloads(docs).items()
        if matches(selector, w["spec"]["template"]["metadata"].get("labels", {}))
    }


def only(docs: list[Doc], kind: str) -> Doc:
    """The single document of `kind`."""
    found = list(by_kind(docs, kind).values())
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------- schema validation


@pytest.mark.parametrize(("combo", "version"), list(itertools.product(COMPONENTS, K8S_VERSIONS)))
def test_rendered_with_components_validates(
    with_components: dict[str, list[Doc]], combo: str, version: str
) -> None:
    docs = with_components[combo]
    kinds = {d["kind"] for d in docs}
    assert ("PodMonitor" in kinds) == ("monitoring" in combo)
    assert ("ScaledObject" in kinds) == ("keda" in combo)
    assert (COLLECTOR_POLICY in by_kind(docs, "NetworkPolicy")) == ("tracing" in combo)
    for doc in docs:
        validate_strict(doc, version)


def test_the_crd_schemas_reject_unknown_and_mistyped_fields(
    with_components: dict[str, list[Doc]],
) -> None:
    docs = with_components["monitoring+keda"]
    monitor = copy.deepcopy(only(docs, "PodMonitor"))
    assert crd_errors(monitor) == []
    monitor["spec"]["podMetricsEndpoints"][0]["ports"] = "metrics"
    assert crd_errors(monitor)
    scaled = copy.deepcopy(only(docs, "ScaledObject"))
    assert crd_errors(scaled) == []
    scaled["spec"]["minReplicas"] = 2
    assert crd_errors(scaled)
    scaled = copy.deepcopy(only(docs, "ScaledObject"))
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 4
    assert crd_errors(scaled), "trigger metadata is a map of strings in the CRD"


def closed_objects(schema: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (location, additionalProperties) of a schema object that lists properties."""
    if isinstance(schema, dict):
        if "properties" in schema and not where.endswith("/metadata"):
            yield where, schema.get("additionalProperties")
        for key, value in schema.items():
            yield from closed_objects(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from closed_objects(value, f"{where}/{i}")


@pytest.mark.parametrize("path", sorted(CRD_SCHEMAS.values()), ids=lambda p: p.name)
def test_the_crd_schemas_are_strict(path: Path) -> None:
    # Strict like kubernetes-validate's strict mode: an object the CRD describes admits no
    # field it does not (metadata excepted: the API server owns that one).
    schema = json.loads(path.read_text())
    closed = list(closed_objects(schema))
    assert closed
    assert [where for where, extra in closed if extra is not False] == []


# ---------------------------------------------------------------- monitoring


def test_the_podmonitor_scrapes_exactly_the_five_services(
    with_components: dict[str, list[Doc]],
) -> None:
    docs = with_components["monitoring"]
    monitor = only(docs, "PodMonitor")["spec"]
    assert selected_workloads(docs, monitor["selector"]) == set(APPS)
    assert monitor.get("namespaceSelector") is None, "the namespace it is applied in, only"
    assert [(e["port"], e["path"]) for e in monitor["podMetricsEndpoints"]] == [
        ("metrics", "/metrics")
    ]


def metrics_ports(docs: list[Doc]) -> dict[str, int]:
    """Each service's container port named `metrics`."""
    found: dict[str, int] = {}
    for app in APPS:
        workload = workloads(docs)[app]
        ports = [p for c in all_containers(workload) for p in c.get("ports", [])]
        found[app] = next(p["containerPort"] for p in ports if p["name"] == "metrics")
    return found


def test_the_scraper_may_reach_the_metrics_port_and_nothing_else(
    with_components: dict[str, list[Doc]],
) -> None:
    docs = with_components["monitoring"]
    ports = metrics_ports(docs)
    policy = by_kind(docs, "NetworkPolicy")["allow-metrics-scraper"]["spec"]
    assert selected_workloads(docs, policy["podSelector"]) == set(APPS)
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {
        (p, "TCP") for p in ports.values()
    }
    # One peer carrying both selectors: the Prometheus pods of that namespace, not either alone.
    [peer] = rule["from"]
    assert set(peer) == {"namespaceSelector", "podSelector"}
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    # The apps' own metrics settings and annotations agree with the port scraped.
    for app, port in ports.items():
        template = workloads(docs)[app]["spec"]["template"]["metadata"]
        assert template["annotations"]["prometheus.io/port"] == str(port), app
        config = by_kind(docs, "ConfigMap")[f"{app}-config"]["data"]
        assert config["VOIDRUNNER_METRICS_PORT"] == str(port), app


@pytest.mark.parametrize("combo", COMPONENTS)
def test_the_components_compose_with_default_deny(
    with_components: dict[str, list[Doc]], combo: str
) -> None:
    docs = with_components[combo]
    deny = by_kind(docs, "NetworkPolicy")["default-deny-all"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Paths between the namespace's own pods stay exactly the architecture's.
    assert allowed_edges(docs) == EXPECTED_EDGES | PROD_EXTERNAL_DB


def test_without_the_components_nothing_is_opened(
    rendered: dict[str, list[Doc]], with_components: dict[str, list[Doc]]
) -> None:
    for docs in rendered.values():
        names = set(by_kind(docs, "NetworkPolicy"))
        assert not names & {"allow-metrics-scraper", "allow-keda-nats-monitoring", COLLECTOR_POLICY}
        assert not {"PodMonitor", "ScaledObject"} & {d["kind"] for d in docs}
        # Tracing is off: no service's configuration names a collector.
        for config in by_kind(docs, "ConfigMap").values():
            assert "VOIDRUNNER_OTLP_ENDPOINT" not in config.get("data", {})
    for combo in set(COMPONENTS) - set(TRACING_COMBOS):
        for config in by_kind(with_components[combo], "ConfigMap").values():
            assert "VOIDRUNNER_OTLP_ENDPOINT" not in config.get("data", {}), combo


# ---------------------------------------------------------------- KEDA


def hpa_targets(docs: list[Doc]) -> set[str]:
    return {
        d["spec"]["scaleTargetRef"]["name"]
        for d in by_kind(docs, "HorizontalPodAutoscaler").values()
    }


def test_keda_replaces_the_executor_hpa(
    rendered: dict[str, list[Doc]], with_components: dict[str, list[Doc]]
) -> None:
    assert hpa_targets(rendered["prod"]) == {"gateway", "tasks", "executor"}
    assert hpa_targets(with_components["monitoring"]) == {"gateway", "tasks", "executor"}
    for combo in KEDA_COMBOS:
        docs = with_components[combo]
        assert hpa_targets(docs) == {"gateway", "tasks"}, combo
        target = only(docs, "ScaledObject")["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "executor"}
        assert "executor" in by_kind(docs, "Deployment")


def test_keda_scales_on_the_lag_of_every_job_lane(with_components: dict[str, list[Doc]]) -> None:
    docs = with_components["keda"]
    spec = only(docs, "ScaledObject")["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    triggers = spec["triggers"]
    assert {t["type"] for t in triggers} == {"nats-jetstream"}
    known = {
        "natsServerMonitoringEndpoint",
        "account",
        "stream",
        "consumer",
        "lagThreshold",
        "activationLagThreshold",
        "useHttps",
    }
    for trigger in triggers:
        meta = trigger["metadata"]
        assert set(meta) <= known, set(meta) - known
        assert meta["stream"] == topology.JOBS_STREAM
        assert meta["account"] == ACCOUNT
        assert int(meta["lagThreshold"]) > 0
        assert meta["consumer"] == topology.job_consumer(trigger["name"])
    assert sorted(t["name"] for t in triggers) == sorted(topology.LANES)
    # The formula adds every lane (each named once), against one executor's slots.
    modifiers = spec["advanced"]["scalingModifiers"]
    assert sorted(re.findall(r"[a-z]+", modifiers["formula"])) == sorted(topology.LANES)
    assert set(re.sub(r"[a-z\s]+", "", modifiers["formula"])) == {"+"}
    slots = by_kind(docs, "ConfigMap")["executor-config"]["data"]["VOIDRUNNER_EXECUTOR_SLOTS"]
    assert modifiers["target"] == slots


def test_keda_reaches_the_nats_monitoring_port(with_components: dict[str, list[Doc]]) -> None:
    docs = with_components["keda"]
    endpoints = {
        t["metadata"]["natsServerMonitoringEndpoint"]
        for t in only(docs, "ScaledObject")["spec"]["triggers"]
    }
    [endpoint] = endpoints
    host, port = endpoint.rsplit(":", 1)
    service_name, namespace, *_ = host.split(".")
    service = by_kind(docs, "Service")[service_name]
    assert service["metadata"]["namespace"] == namespace
    [svc_port] = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    nats = pod_spec(by_kind(docs, "StatefulSet")["nats"])["containers"][0]
    [container_port] = [p for p in nats["ports"] if p["name"] == svc_port["targetPort"]]
    conf = by_kind(docs, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert f"http_port: {container_port['containerPort']}" in conf
    assert matches(service["spec"]["selector"], {"app": "nats"})

    policy = by_kind(docs, "NetworkPolicy")["allow-keda-nats-monitoring"]["spec"]
    assert selected_workloads(docs, policy["podSelector"]) == {"nats"}
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {
        (container_port["containerPort"], "TCP")
    }
    [peer] = rule["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
        "podSelector": {"matchLabels": {"app": "keda-operator"}},
    }
    # Nobody else gains the monitoring port: the clients' policy still admits 4222 only.
    nats_policy = by_kind(docs, "NetworkPolicy")["nats"]["spec"]
    assert {p["port"] for r in nats_policy["ingress"] for p in r["ports"]} == {4222, 6222}


@dataclass(frozen=True)
class Drain:
    grace_period: int
    shutdown_grace: float


def executor_drain(docs: list[Doc]) -> Drain:
    """How long Kubernetes waits for a stopping executor, and how long it waits for its jobs."""
    spec = pod_spec(by_kind(docs, "Deployment")["executor"])
    config = by_kind(docs, "ConfigMap")["executor-config"]["data"]
    default = ExecutorSettings.model_fields["shutdown_grace_seconds"].default
    shutdown = float(config.get("VOIDRUNNER_SHUTDOWN_GRACE_SECONDS", default))
    return Drain(spec["terminationGracePeriodSeconds"], shutdown)


@pytest.mark.parametrize("combo", COMPONENTS)
def test_every_variable_the_components_set_is_read(
    with_components: dict[str, list[Doc]], combo: str
) -> None:
    # A misspelt VOIDRUNNER_SHUTDOWN_GRACE_SECONDS would be silently ignored (no drain).
    problems = {
        w.where: sorted(unknown)
        for w in k8s_workloads(with_components[combo], combo)
        if (unknown := unknown_variables(w))
    }
    assert problems == {}


def test_every_executor_outlives_its_own_shutdown(
    rendered: dict[str, list[Doc]], with_components: dict[str, list[Doc]]
) -> None:
    for docs in [*rendered.values(), *with_components.values()]:
        drain = executor_drain(docs)
        assert drain.grace_period >= drain.shutdown_grace + HAND_BACK_SECONDS


def test_keda_scale_down_drains_for_the_longest_allowed_run(
    with_components: dict[str, list[Doc]],
) -> None:
    longest = load_catalog().caps.timeout_seconds
    for combo in KEDA_COMBOS:
        drain = executor_drain(with_components[combo])
        assert drain.shutdown_grace >= longest, combo
        assert drain.grace_period >= longest + HAND_BACK_SECONDS, combo


# ---------------------------------------------------------------- traces

COLLECTOR_ENDPOINT = "http://otel-collector.monitoring.svc:4317"


def service_configs(docs: list[Doc]) -> dict[str, dict[str, str]]:
    """The data of each ConfigMap, by name."""
    return {name: c.get("data", {}) for name, c in by_kind(docs, "ConfigMap").items()}


@pytest.mark.parametrize("combo", TRACING_COMBOS)
def test_tracing_points_every_service_at_the_collector(
    with_components: dict[str, list[Doc]], combo: str
) -> None:
    docs = with_components[combo]
    configs = service_configs(docs)
    for app in APPS:
        config = configs[f"{app}-config"]
        assert config["VOIDRUNNER_OTLP_ENDPOINT"] == COLLECTOR_ENDPOINT, app
        # Sampled in production, not every trace; 0 would be tracing on with nothing kept.
        assert 0 < float(config["VOIDRUNNER_TRACE_SAMPLE_RATIO"]) < 1, app
    others = {name for name, data in configs.items() if "VOIDRUNNER_OTLP_ENDPOINT" in data}
    assert others == {f"{app}-config" for app in APPS}
    # What the containers really get (envFrom), and it parses into tracing that is on.
    seen = set()
    for workload in k8s_workloads(docs, combo):
        assert workload.env["VOIDRUNNER_OTLP_ENDPOINT"] == COLLECTOR_ENDPOINT, workload.where
        settings_cls = SETTINGS[workload.service][0]
        fields = {
            "otlp_endpoint": workload.env["VOIDRUNNER_OTLP_ENDPOINT"],
            "trace_sample_ratio": workload.env["VOIDRUNNER_TRACE_SAMPLE_RATIO"],
        }
        parsed = settings_cls.model_validate(fields)
        assert (parsed.otlp_endpoint, parsed.trace_sample_ratio) == (COLLECTOR_ENDPOINT, 0.1)
        seen.add(workload.service)
    assert seen == set(APPS)


def test_the_services_may_reach_the_collector_and_nothing_else(
    rendered: dict[str, list[Doc]], with_components: dict[str, list[Doc]]
) -> None:
    for combo in TRACING_COMBOS:
        docs = with_components[combo]
        policies = by_kind(docs, "NetworkPolicy")
        policy = policies[COLLECTOR_POLICY]["spec"]
        assert selected_workloads(docs, policy["podSelector"]) == set(APPS), combo
        assert not matches(policy["podSelector"], {"app": "nats"})
        assert not matches(policy["podSelector"], {})
        assert policy["policyTypes"] == ["Egress"], "it admits nothing in"
        [rule] = policy["egress"]
        assert rule["ports"] == [{"port": 4317, "protocol": "TCP"}]
        # One peer carrying both selectors: the collector's pods of that namespace, not every
        # pod there nor every pod so labelled anywhere.
        [peer] = rule["to"]
        assert peer == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}},
        }
        # The endpoint names that namespace and port.
        host, port = COLLECTOR_ENDPOINT.removeprefix("http://").rsplit(":", 1)
        assert host.split(".")[1] == "monitoring"
        assert int(port) == rule["ports"][0]["port"]
        # Every other policy is the one the same render has without the component.
        without = combo.replace("+tracing", "").replace("tracing", "")
        before = by_kind(with_components[without] if without else rendered["prod"], "NetworkPolicy")
        assert {n: p for n, p in policies.items() if n != COLLECTOR_POLICY} == before, combo


def readme_overlay_patches() -> str:
    """The `patches:` block deploy/README.md ("Traces") gives operators to move the collector."""
    readme = (ROOT / "deploy" / "README.md").read_text()
    section = readme.split("\n## Traces\n", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    [block] = [b for b in blocks if b.startswith("patches:")]
    return block


def test_the_documented_overlay_patches_move_the_collector(tmp_path: Path) -> None:
    rel = Path(os.path.relpath(K8S, tmp_path)).as_posix()
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        f"  - {rel}/overlays/prod",
        "components:",
        f"  - {rel}/components/tracing",
    ]
    (tmp_path / "kustomization.yaml").write_text("\n".join(lines) + "\n" + readme_overlay_patches())
    docs = kustomize_build(tmp_path)
    configs = service_configs(docs)
    endpoints = {configs[f"{app}-config"]["VOIDRUNNER_OTLP_ENDPOINT"] for app in APPS}
    [endpoint] = endpoints
    assert endpoint != COLLECTOR_ENDPOINT
    namespace = endpoint.removeprefix("http://").split(".")[1]
    policy = by_kind(docs, "NetworkPolicy")[COLLECTOR_POLICY]["spec"]
    [peer] = policy["egress"][0]["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": namespace}
    assert peer["podSelector"]["matchLabels"] != {
        "app.kubernetes.io/name": "opentelemetry-collector"
    }
    assert selected_workloads(docs, policy["podSelector"]) == set(APPS)


# ---------------------------------------------------------------- Grafana dashboard


@dataclass(frozen=True)
class Exported:
    """A series name the services export, the metric it belongs to and its labels."""

    metric: str
    labels: frozenset[str]


def exported_series() -> dict[str, Exported]:
    """Every series name the services' metrics modules export, with the labels it carries.

    The names come from the registry (what /metrics serves), expanded the way the exposition
    format does: counters as _total, histograms as _bucket (with `le`), _sum and _count. The
    labels come from the metric objects, since a labelled metric has no samples until used.
    """
    import voidrunner.common.rpc_metrics
    import voidrunner.executor.metrics
    import voidrunner.gateway.metrics
    import voidrunner.scheduler.metrics
    import voidrunner.tasks.metrics

    modules = (
        voidrunner.gateway.metrics,
        voidrunner.tasks.metrics,
        voidrunner.scheduler.metrics,
        voidrunner.executor.metrics,
        voidrunner.common.rpc_metrics,
    )
    labels: dict[str, frozenset[str]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                for family in value.describe():
                    labels[family.name] = frozenset(value._labelnames)
    series: dict[str, Exported] = {}
    for family in prometheus_client.REGISTRY.collect():
        if family.name not in labels:
            continue
        own = labels[family.name]
        if family.type == "counter":
            series[f"{family.name}_total"] = Exported(family.name, own)
        elif family.type == "histogram":
            series[f"{family.name}_bucket"] = Exported(family.name, own | {"le"})
            series[f"{family.name}_sum"] = Exported(family.name, own)
            series[f"{family.name}_count"] = Exported(family.name, own)
        else:
            series[family.name] = Exported(family.name, own)
    assert set(labels) == {e.metric for e in series.values()}, "a metric is not registered"
    return series


def dashboard_panels() -> list[Doc]:
    """The dashboard's panels, rows' nested panels included."""
    dashboard = json.loads(DASHBOARD.read_text())
    found: list[Doc] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query on the dashboard."""
    return [
        (p["title"], t["expr"])
        for p in dashboard_panels()
        if p["type"] != "row"
        for t in p["targets"]
    ]


SERIES = re.compile(r"\b(voidrunner_[a-zA-Z0-9_:]+)\s*(\{[^}]*\})?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def query_problems(expr: str, series: dict[str, Exported]) -> list[str]:
    """What in one PromQL expression names a series or a label the services do not export."""
    problems: list[str] = []
    used = SERIES.findall(expr)
    if not used:
        problems.append("no voidrunner metric")
    names = [name for name, _ in used]
    for name, matchers in used:
        if name not in series:
            problems.append(f"unknown series {name}")
            continue
        for label in MATCHER.findall(matchers):
            if label not in series[name].labels:
                problems.append(f"{name} has no label {label}")
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (x.strip() for x in grouping.split(","))):
            lacking = [n for n in names if n in series and label not in series[n].labels]
            if lacking:
                problems.append(f"by ({label}): not a label of {lacking}")
    return problems


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for where in (panel, *panel["targets"]):
            assert where["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_dashboard_queries_only_what_the_services_export() -> None:
    series = exported_series()
    assert "voidrunner_http_requests_total" in series
    assert "le" in series["voidrunner_execution_queue_wait_seconds_bucket"].labels
    problems = {title: p for title, expr in expressions() if (p := query_problems(expr, series))}
    assert problems == {}


def test_the_query_check_catches_a_wrong_name_or_label() -> None:
    series = exported_series()
    assert query_problems("sum(rate(voidrunner_http_requests[5m]))", series)
    assert query_problems("sum by (runtime) (rate(voidrunner_http_requests_total[5m]))", series)
    assert query_problems('rate(voidrunner_http_requests_total{code="500"}[5m])', series)
    assert query_problems("sum by (le) (rate(voidrunner_execution_run_seconds_sum[5m]))", series)
    assert not query_problems(
        "sum by (route, le) (rate(voidrunner_http_request_duration_seconds_bucket[5m]))", series
    )


def test_the_dashboard_shows_every_exported_metric() -> None:
    # A metric added to a service and left off the dashboard is a panel nobody will look at.
    shown = {series_name for _, expr in expressions() for series_name, _ in SERIES.findall(expr)}
    series = exported_series()
    assert {e.metric for e in series.values()} == {series[s].metric for s in shown}
