"""A blocking look at a Docker engine, for places that cannot await (the conformance registry).

    facts = probe_engine_sync("unix:///tmp/vr-docker/docker.sock", ["voidrunner/sandbox-go"])
    names = container_names("unix:///...", label="voidrunner.owner=...")

Only what the suite needs: plain HTTP over a unix socket or TCP, a handful of GET requests.
Production code uses aiodocker (voidrunner.executor.sandbox.docker).
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterable
from typing import Any

import pytest

from sandbox_testing.conformance import Backend
from voidrunner.contracts.runtimes import RuntimeCatalog
from voidrunner.executor.sandbox.docker import LABEL_OWNER, DockerSandbox, EngineFacts

__all__ = ["EngineUnreachable", "conformance_backend", "container_names", "probe_engine_sync"]


class EngineUnreachable(Exception):
    """No engine answered at the address."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _get(host: str, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    if host.startswith("unix://"):
        conn: http.client.HTTPConnection = _UnixConnection(host.removeprefix("unix://"), timeout)
    elif host.startswith(("tcp://", "http://")):
        netloc = urllib.parse.urlsplit(host.replace("tcp://", "http://", 1)).netloc
        conn = http.client.HTTPConnection(netloc, timeout=timeout)
    else:
        raise EngineUnreachable(f"unsupported Docker host {host!r} (unix:// or tcp://)")
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise EngineUnreachable(f"no Docker engine at {host}: {exc}") from exc
    finally:
        conn.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, body.decode(errors="replace")


def probe_engine_sync(host: str, images: Iterable[str]) -> EngineFacts:
    """Version, OCI runtimes and present images; raises EngineUnreachable when nothing answers."""
    status, version = _get(host, "/version")
    if status != 200 or not isinstance(version, dict):
        raise EngineUnreachable(f"{host} is not a Docker engine (GET /version: {status})")
    _, info = _get(host, "/info")
    runtimes = frozenset((info or {}).get("Runtimes", {}) if isinstance(info, dict) else {})
    present = set()
    for image in set(images):
        status, _ = _get(host, f"/images/{urllib.parse.quote(image, safe='')}/json")
        if status == 200:
            present.add(image)
    return EngineFacts(str(version.get("Version", "")), runtimes, frozenset(present))


def container_names(host: str, label: str) -> list[str]:
    """Names of all containers (running or not) carrying `label` ("key=value")."""
    filters = urllib.parse.quote(json.dumps({"label": [label]}))
    status, items = _get(host, f"/containers/json?all=1&filters={filters}")
    if status != 200 or not isinstance(items, list):
        raise EngineUnreachable(f"cannot list containers ({status})")
    return sorted(str(item["Names"][0]).lstrip("/") for item in items if item.get("Names"))


def conformance_backend(oci_runtime: str, catalog: RuntimeCatalog, host: str) -> Backend:
    """The docker backend for the conformance suite, or pytest.skip naming what is missing.

    docker-runc runs with a warm pool of one container per runtime, so the suite covers both
    the cold and the warm path; its leftovers check ignores the pool's own stock.
    """
    images = [spec.image for spec in catalog]
    try:
        facts = probe_engine_sync(host, images)
    except EngineUnreachable as exc:
        pytest.skip(f"Docker engine unreachable: {exc}")
    if oci_runtime not in facts.oci_runtimes:
        pytest.skip(f"OCI runtime {oci_runtime} is not registered with the engine at {host}")
    if not facts.images:
        pytest.skip(
            f"no sandbox images in the engine at {host} (scripts/ci/build-sandbox-images.sh)"
        )

    def make(other: RuntimeCatalog) -> DockerSandbox:
        other_facts = probe_engine_sync(host, [spec.image for spec in other])
        return DockerSandbox(host, oci_runtime, other, facts=other_facts)

    sandbox = DockerSandbox(
        host, oci_runtime, catalog, facts=facts, warm_pool=1 if oci_runtime == "runc" else 0
    )

    def leftovers() -> list[str]:
        held = sandbox.pool.held_names()
        names = container_names(host, f"{LABEL_OWNER}={sandbox.owner}")
        return [name for name in names if name not in held]

    return Backend(
        f"docker-{oci_runtime}",
        sandbox,
        leftovers,
        make,
        host_visible_processes=oci_runtime != "runsc",
        enforces_pids=oci_runtime != "runsc",
    )
