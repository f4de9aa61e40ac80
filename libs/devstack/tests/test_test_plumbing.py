"""The test session's plumbing: ports no other socket takes, xdist work units, worker uids."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from voidrunner.devstack import processes
from voidrunner.devstack.processes import free_port
from voidrunner.devstack.pytest_plugin import worker_index
from voidrunner.devstack.xdist_scopes import scope_of


def test_a_free_port_lies_below_the_ephemeral_range_and_binds() -> None:
    start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(10000 <= port < start for port in ports), ports
    assert len(ports) > 1, "the same port every time"
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports.pop()))


def test_a_taken_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A range of one port below 10000 + the taken one: the search must fall back to bind(0).
        monkeypatch.setattr(processes, "_LOWEST_PORT", port)
        monkeypatch.setattr(processes, "_ephemeral_start", lambda: port + 1000)
        monkeypatch.setattr("secrets.randbelow", lambda _n: 0)
        assert free_port() != port


def test_tests_deploy_is_one_unit_and_every_other_file_its_own() -> None:
    assert scope_of("tests/deploy/test_compose_smoke.py::test_x") == "tests/deploy/"
    assert scope_of("tests/deploy/test_k8s_manifests.py::test_y[a]") == "tests/deploy/"
    assert scope_of("tests/e2e/test_pipeline.py::test_z") == "tests/e2e/test_pipeline.py"
    assert scope_of("tests/deployment.py::test_w") == "tests/deployment.py"


def test_the_worker_index_comes_from_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert worker_index() == 3
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert worker_index() == 0
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "master")
    assert worker_index() == 0
