"""Kubernetes manifests: schema-valid in strict mode, hardened, and wired as the architecture says.

Every manifest file a kustomization lists and every overlay's rendered output is validated with
kubernetes-validate in strict mode (unknown fields fail), warnings fail, and a missing schema
(SchemaNotFoundError) fails too.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from .conftest import K8S, K8S_VERSIONS, OVERLAYS, Doc, crd_errors, kustomize_build

APPS = ("gateway", "auth", "tasks", "scheduler", "executor")


def validate_strict(doc: Doc, version: str) -> None:
    """Raise on any schema problem, unknown field, missing schema or warning.

    Custom resources with a vendored CRD schema (conftest.CRD_SCHEMAS) are checked against it,
    as strictly; any other kind without a Kubernetes schema still fails.
    """
    errors = crd_errors(doc)
    if errors is not None:
        assert not errors, f"{doc['kind']} {doc['metadata'].get('name')}: {errors}"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kubernetes_validate.validate(doc, version, strict=True)


def listed_manifests() -> list[Path]:
    """Every resource file listed by any kustomization or component under deploy/k8s."""
    found: list[Path] = []
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        spec = yaml.safe_load(kustomization.read_text())
        for entry in spec.get("resources", []):
            path = (kustomization.parent / entry).resolve()
            if path.is_file():
                found.append(path)
    return found


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    return {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def all_containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


# ---------------------------------------------------------------- schema validation


def test_every_listed_manifest_exists_and_is_found() -> None:
    names = {p.relative_to(K8S).as_posix() for p in listed_manifests()}
    assert {"base/gateway.yaml", "base/nats.yaml", "components/postgres/postgres.yaml"} <= names
    assert "components/network-policies/network-policies.yaml" in names


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_file_validates_strictly(version: str) -> None:
    manifests = listed_manifests()
    assert manifests
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                validate_strict(doc, version)


@pytest.mark.parametrize(("overlay", "version"), list(itertools.product(OVERLAYS, K8S_VERSIONS)))
def test_rendered_overlay_validates_strictly(
    rendered: dict[str, list[Doc]], overlay: str, version: str
) -> None:
    docs = rendered[overlay]
    assert len(docs) > 30
    for doc in docs:
        validate_strict(doc, version)


def test_strict_validation_catches_a_misspelled_field(rendered: dict[str, list[Doc]]) -> None:
    gateway = by_kind(rendered["dev"], "Deployment")["gateway"]
    broken: dict[str, Any] = yaml.safe_load(yaml.safe_dump(gateway))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(broken, K8S_VERSIONS[-1])


def test_a_kind_without_schema_fails() -> None:
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_strict({"apiVersion": "example.com/v1", "kind": "Nope"}, K8S_VERSIONS[-1])


def test_kustomize_is_real_and_reports_broken_input(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(AssertionError, match="kustomize"):
        kustomize_build(tmp_path)


# ---------------------------------------------------------------- hardening


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened_and_sized(rendered: dict[str, list[Doc]], overlay: str) -> None:
    for name, workload in workloads(rendered[overlay]).items():
        spec = pod_spec(workload)
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in all_containers(workload):
            where = f"{name}/{container['name']}"
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc.get("privileged", False) is False, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_native_grpc_and_http(rendered: dict[str, list[Doc]], overlay: str) -> None:
    ports = {"auth": 50051, "tasks": 50052, "scheduler": 50053, "executor": 50054}
    deployments = by_kind(rendered[overlay], "Deployment")
    for app, port in ports.items():
        main = deployments[app]["spec"]["template"]["spec"]["containers"][0]
        # Readiness follows the service's loops (""); a NATS outage must not restart pods, so
        # startup and liveness ask only whether the process serves ("liveness").
        assert main["readinessProbe"]["grpc"] == {"port": port}, app
        for probe in ("startupProbe", "livenessProbe"):
            assert main[probe]["grpc"] == {"port": port, "service": "liveness"}, (app, probe)
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdbs_and_hpas(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    pdbs = {
        d["spec"]["selector"]["matchLabels"]["app"]
        for d in by_kind(docs, "PodDisruptionBudget").values()
    }
    assert {*APPS, "nats"} <= pdbs
    hpas = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in by_kind(docs, "HorizontalPodAutoscaler").values()
    }
    assert hpas == {"gateway", "tasks", "executor"}


# ---------------------------------------------------------------- placement and state


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_executors_run_on_tainted_sandbox_nodes_with_the_engine_socket(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    spec = pod_spec(by_kind(docs, "Deployment")["executor"])
    assert spec["nodeSelector"] == {"voidrunner.io/sandbox": "true"}
    assert {
        "key": "voidrunner.io/sandbox",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in spec["tolerations"]
    sock = next(v for v in spec["volumes"] if v["name"] == "docker-sock")
    assert sock["hostPath"] == {"path": "/var/run/docker.sock", "type": "Socket"}
    config = by_kind(docs, "ConfigMap")["executor-config"]["data"]
    assert config["VOIDRUNNER_SANDBOX_BACKEND"] == "docker"
    assert config["VOIDRUNNER_DOCKER_RUNTIME"] == "runsc"
    # No other workload lands on sandbox nodes or touches the host.
    for name, workload in workloads(docs).items():
        if name != "executor":
            other = pod_spec(workload)
            assert "tolerations" not in other, name
            assert all("hostPath" not in v for v in other.get("volumes", [])), name

    runtime = by_kind(docs, "RuntimeClass")["gvisor"]
    assert runtime["handler"] == "runsc"
    assert runtime["scheduling"]["nodeSelector"] == spec["nodeSelector"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    nats = by_kind(docs, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = by_kind(docs, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert "jetstream {" in conf
    assert all(f"nats-{i}.nats-headless:6222" in conf for i in range(3))


def test_postgres_in_cluster_for_dev_only(rendered: dict[str, list[Doc]]) -> None:
    assert "postgres" in by_kind(rendered["dev"], "StatefulSet")
    assert "postgres" not in workloads(rendered["prod"])
    assert "postgres" not in by_kind(rendered["prod"], "Service")
    # prod generates no Secret: the operator creates them (deploy/README.md).
    assert not by_kind(rendered["prod"], "Secret")
    assert {"auth-secrets", "tasks-secrets", "postgres-secrets"} <= {
        d["metadata"]["name"].rsplit("-", 1)[0] for d in by_kind(rendered["dev"], "Secret").values()
    }


def test_each_service_mounts_only_its_own_identity(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["dev"]
    services = ("gateway", "auth", "tasks", "scheduler", "executor")
    for name in services:
        volumes = {v["name"]: v for v in pod_spec(workloads(docs)[name])["volumes"]}
        assert volumes["identity"]["secret"]["secretName"].startswith(f"{name}-identity-"), name
        assert volumes["service-keys"]["secret"]["secretName"].startswith("service-keys-"), name
        config = by_kind(docs, "ConfigMap")[f"{name}-config"]["data"]
        assert config["VOIDRUNNER_NATS_SEED_FILE"].startswith("/run/secrets/voidrunner/identity/")
    nats = pod_spec(by_kind(docs, "StatefulSet")["nats"])
    accounts = {v["name"]: v for v in nats["volumes"]}["accounts"]["secret"]["secretName"]
    assert accounts.startswith("nats-accounts-")
    conf = by_kind(docs, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert 'include "../nats-accounts/accounts.conf"' in conf
    secrets = {d["metadata"]["name"].rsplit("-", 1)[0]: d for d in by_kind(docs, "Secret").values()}
    assert {f"{name}-identity" for name in services} <= set(secrets)
    # Generated, not committed: the files behind them are git-ignored.
    generated = K8S / "overlays" / "dev" / "generated"
    assert (generated / "accounts.conf").exists()
    ignored = (K8S.parents[1] / ".gitignore").read_text()
    assert "deploy/k8s/overlays/dev/generated/" in ignored


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_exposed(rendered: dict[str, list[Doc]], overlay: str) -> None:
    services = by_kind(rendered[overlay], "Service")
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())
    for ingress in by_kind(rendered[overlay], "Ingress").values():
        backends = {
            p["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        }
        assert backends == {"gateway"}


# ---------------------------------------------------------------- network policies

# (source app, destination app or "external-db", port). "world" is any peer outside the namespace.
EXPECTED_EDGES = {
    ("world", "gateway", 8080),
    ("gateway", "auth", 50051),
    ("gateway", "tasks", 50052),
    ("gateway", "nats", 4222),
    ("scheduler", "tasks", 50052),
    ("scheduler", "nats", 4222),
    ("auth", "nats", 4222),
    ("tasks", "nats", 4222),
    ("executor", "nats", 4222),
    ("nats", "nats", 6222),
    # Webhook deliveries: https to public addresses (test_webhook_egress_is_public_https_only).
    ("tasks", "external-db", 443),
}
DB_EDGES = {("auth", "postgres", 5432), ("tasks", "postgres", 5432)}
PEERS = (*APPS, "nats", "postgres")


def selects(selector: Doc, app: str) -> bool:
    """Whether a label selector matches a pod labelled app=<app> (all we label pods with)."""
    labels = {"app": app}
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = labels.get(expr["key"])
        if expr["operator"] == "In" and present not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present in expr["values"]:
            return False
    return True


def peer_apps(peers: list[Doc] | None) -> set[str]:
    """Apps a `from`/`to` list admits; "world" for no list or an ipBlock/namespace-only peer."""
    if not peers:
        return {"world", *PEERS}
    found: set[str] = set()
    for peer in peers:
        if "podSelector" in peer and "namespaceSelector" not in peer:
            found |= {a for a in PEERS if selects(peer["podSelector"], a)}
        elif "ipBlock" in peer:
            found.add("external-db")
        else:
            found.add("namespace:" + str(peer.get("namespaceSelector")))
    return found


def rule_ports(rule: Doc) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def allowed_edges(docs: list[Doc]) -> set[tuple[str, str, int]]:
    """Connections both the source's egress and the destination's ingress policies allow.

    A pod with no policy of a type is unrestricted for that type (Kubernetes semantics); DNS
    (to kube-system) is reported separately and left out.
    """
    policies = list(by_kind(docs, "NetworkPolicy").values())

    def governed(app: str, kind: str) -> list[Doc]:
        return [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], app)
        ]

    egress: set[tuple[str, str, int]] = set()
    ingress: set[tuple[str, str, int]] = set()
    ports = {8080, 50051, 50052, 5432, 4222, 6222}
    for app in PEERS:
        assert governed(app, "Egress"), f"{app} has no egress policy"
        assert governed(app, "Ingress"), f"{app} has no ingress policy"
        for policy in governed(app, "Egress"):
            for rule in policy["spec"].get("egress", []):
                for dst in peer_apps(rule.get("to")):
                    egress |= {(app, dst, port) for port in rule_ports(rule) or ports}
        for policy in governed(app, "Ingress"):
            for rule in policy["spec"].get("ingress", []):
                for src in peer_apps(rule.get("from")):
                    ingress |= {(src, app, port) for port in rule_ports(rule) or ports}
    edges = {e for e in egress if (e[0], e[1], e[2]) in ingress or e[1] == "external-db"}
    edges |= {e for e in ingress if e[0] == "world"}
    return {e for e in edges if not e[1].startswith("namespace:")}


def test_policies_allow_exactly_the_architecture_in_dev(rendered: dict[str, list[Doc]]) -> None:
    assert allowed_edges(rendered["dev"]) == EXPECTED_EDGES | DB_EDGES


def test_policies_allow_exactly_the_architecture_in_prod(rendered: dict[str, list[Doc]]) -> None:
    external = {("auth", "external-db", 5432), ("tasks", "external-db", 5432)}
    assert allowed_edges(rendered["prod"]) == EXPECTED_EDGES | external


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_webhook_egress_is_public_https_only(rendered: dict[str, list[Doc]], overlay: str) -> None:
    spec = by_kind(rendered[overlay], "NetworkPolicy")["webhook-egress"]["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app": "tasks"}}
    (rule,) = spec["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = {b["ipBlock"]["cidr"]: set(b["ipBlock"]["except"]) for b in rule["to"]}
    assert set(blocks) == {"0.0.0.0/0", "::/0"}
    # What the sender's guard refuses, the network refuses too.
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"} <= blocks["0.0.0.0/0"]
    assert {"169.254.0.0/16", "100.64.0.0/10"} <= blocks["0.0.0.0/0"]
    assert {"::1/128", "fc00::/7", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96"} <= blocks["::/0"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_deny_and_dns(rendered: dict[str, list[Doc]], overlay: str) -> None:
    policies = by_kind(rendered[overlay], "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns-egress"]["spec"]
    assert dns["podSelector"] == {}
    assert {(p["port"], p["protocol"]) for p in dns["egress"][0]["ports"]} == {
        (53, "UDP"),
        (53, "TCP"),
    }


def test_the_policy_check_notices_an_extra_path(rendered: dict[str, list[Doc]]) -> None:
    docs: list[Doc] = yaml.safe_load(yaml.safe_dump(rendered["dev"]))
    executor = by_kind(docs, "NetworkPolicy")["executor"]
    executor["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app": "tasks"}}}], "ports": [{"port": 50052}]}
    )
    tasks = by_kind(docs, "NetworkPolicy")["tasks"]
    tasks["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app": "executor"}}}
    )
    assert ("executor", "tasks", 50052) in allowed_edges(docs)
